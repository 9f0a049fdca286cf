//! Lightsail: manual instance snapshots, cross-region copies, the auto-snapshot add-on.

use super::error::{map_sdk, refuse_unmanaged};
use super::operations::Service;
use super::{cloud_time, is_managed, tag_map, to_chrono};
use crate::cloud::{CloudError, CloudErrorKind, CloudResult, ProviderPoint, SettingCheck, Tags};
use crate::domain::model::{PointKind, PointState, RestoreMetadata};
use aws_sdk_lightsail::types::{
    AddOnRequest, AddOnType, AutoSnapshotAddOnRequest, InstanceSnapshot, InstanceSnapshotState,
    RegionName, Tag,
};
use aws_sdk_lightsail::Client;

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn point_of(s: &InstanceSnapshot, region: &str) -> ProviderPoint {
    let (state, failure_reason) = match s.state() {
        Some(InstanceSnapshotState::Available) => (PointState::Available, None),
        Some(InstanceSnapshotState::Pending) => (PointState::Creating, None),
        other => (
            PointState::Failed,
            Some(format!("snapshot state {other:?}")),
        ),
    };
    let name = s.name().unwrap_or_default().to_string();
    let mut metadata = RestoreMetadata {
        bundle_id: s.from_bundle_id().map(str::to_string),
        availability_zone: s
            .location()
            .and_then(|l| l.availability_zone())
            .map(str::to_string),
        size_bytes: s
            .size_in_gb()
            .filter(|g| *g > 0)
            .map(|g| g as u64 * (1 << 30)),
        ..Default::default()
    };
    if let Some(b) = s.from_blueprint_id() {
        metadata.extra.insert("blueprint_id".into(), b.to_string());
    }
    if let Some(i) = s.from_instance_name() {
        metadata
            .extra
            .insert("source_instance".into(), i.to_string());
    }
    if s.is_from_auto_snapshot() == Some(true) {
        metadata
            .extra
            .insert("from_auto_snapshot".into(), "true".into());
    }
    let point_time = cloud_time(s.created_at().and_then(to_chrono), &mut metadata);
    ProviderPoint {
        kind: PointKind::LightsailSnapshot,
        region: region.to_string(),
        provider_id: name.clone(),
        name,
        arn: s.arn().map(str::to_string),
        state,
        point_time,
        metadata,
        tags: tag_map(
            s.tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        ),
        failure_reason,
    }
}

pub async fn create_snapshot(
    c: &Client,
    region: &str,
    instance: &str,
    name: &str,
    tags: &Tags,
) -> CloudResult<ProviderPoint> {
    let inst = c
        .get_instance()
        .instance_name(instance)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "GetInstance", e))?;
    let inst = inst.instance().ok_or_else(|| {
        CloudError::new(
            CloudErrorKind::NotFound,
            "GetInstance",
            format!("no instance {instance}"),
        )
    })?;
    let bundle = inst.bundle_id().map(str::to_string);
    let zone = inst
        .location()
        .and_then(|l| l.availability_zone())
        .map(str::to_string);
    let blueprint = inst.blueprint_id().map(str::to_string);
    // The deterministic name must mean "reconcile": report an existing snapshot as such.
    match describe_snapshot(c, region, name).await {
        Ok(_) => {
            return Err(CloudError::new(
                CloudErrorKind::AlreadyExists,
                "CreateInstanceSnapshot",
                format!("an instance snapshot named {name} already exists in {region}"),
            ))
        }
        Err(e) if e.kind == CloudErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    c.create_instance_snapshot()
        .instance_name(instance)
        .instance_snapshot_name(name)
        .set_tags(Some(sdk_tags(tags)))
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "CreateInstanceSnapshot", e))?;
    let mut p = describe_snapshot(c, region, name).await?;
    p.metadata.bundle_id = p.metadata.bundle_id.take().or(bundle);
    p.metadata.availability_zone = p.metadata.availability_zone.take().or(zone);
    if let Some(b) = blueprint {
        p.metadata.extra.entry("blueprint_id".into()).or_insert(b);
    }
    Ok(p)
}

pub async fn describe_snapshot(c: &Client, region: &str, name: &str) -> CloudResult<ProviderPoint> {
    let out = c
        .get_instance_snapshot()
        .instance_snapshot_name(name)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "GetInstanceSnapshot", e))?;
    out.instance_snapshot()
        .map(|s| point_of(s, region))
        .ok_or_else(|| {
            CloudError::new(
                CloudErrorKind::NotFound,
                "GetInstanceSnapshot",
                format!("no instance snapshot {name} in {region}"),
            )
        })
}

/// Every instance snapshot in the region (paginated).
pub async fn list_snapshots(c: &Client, region: &str) -> CloudResult<Vec<ProviderPoint>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .get_instance_snapshots()
            .set_page_token(token.clone())
            .send()
            .await
            .map_err(|e| map_sdk(Service::Lightsail, "GetInstanceSnapshots", e))?;
        out.extend(
            page.instance_snapshots()
                .iter()
                .map(|s| point_of(s, region)),
        );
        match page.next_page_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

/// Copy to another region: called in the destination region, naming the source region.
pub async fn copy_snapshot(
    dest: &Client,
    source: &ProviderPoint,
    dest_region: &str,
    name: &str,
    tags: &Tags,
) -> CloudResult<ProviderPoint> {
    dest.copy_snapshot()
        .source_snapshot_name(&source.provider_id)
        .source_region(RegionName::from(source.region.as_str()))
        .target_snapshot_name(name)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "CopySnapshot", e))?;
    // CopySnapshot takes no tags: tag the copy afterwards.
    dest.tag_resource()
        .resource_name(name)
        .set_tags(Some(sdk_tags(tags)))
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "TagResource", e))?;
    let mut p = describe_snapshot(dest, dest_region, name).await?;
    p.point_time = source.point_time;
    if p.tags.is_empty() {
        p.tags = tags.clone();
    }
    Ok(p)
}

/// Turn an automatic snapshot into a manual one (kept beyond Lightsail's newest seven).
pub async fn promote_auto_snapshot(
    c: &Client,
    region: &str,
    instance: &str,
    restore_date: &str,
    name: &str,
    tags: &Tags,
) -> CloudResult<ProviderPoint> {
    c.copy_snapshot()
        .source_resource_name(instance)
        .restore_date(restore_date)
        .source_region(RegionName::from(region))
        .target_snapshot_name(name)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "CopySnapshot", e))?;
    c.tag_resource()
        .resource_name(name)
        .set_tags(Some(sdk_tags(tags)))
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "TagResource", e))?;
    describe_snapshot(c, region, name).await
}

/// The dates of the instance's automatic snapshots (Lightsail keeps the newest seven).
pub async fn list_auto_snapshots(c: &Client, instance: &str) -> CloudResult<Vec<String>> {
    let out = c
        .get_auto_snapshots()
        .resource_name(instance)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "GetAutoSnapshots", e))?;
    Ok(out
        .auto_snapshots()
        .iter()
        .filter_map(|a| a.date())
        .map(str::to_string)
        .collect())
}

pub async fn delete_snapshot(c: &Client, name: &str) -> CloudResult<()> {
    let p = describe_snapshot(c, "", name).await?;
    if !is_managed(&p.tags) {
        return Err(refuse_unmanaged(
            "DeleteInstanceSnapshot",
            &format!("instance snapshot {name}"),
        ));
    }
    c.delete_instance_snapshot()
        .instance_snapshot_name(name)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "DeleteInstanceSnapshot", e))?;
    Ok(())
}

async fn addon_state(c: &Client, instance: &str) -> CloudResult<Option<(String, Option<String>)>> {
    let out = c
        .get_instance()
        .instance_name(instance)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "GetInstance", e))?;
    Ok(out
        .instance()
        .and_then(|i| {
            i.add_ons()
                .iter()
                .find(|a| a.name() == Some("AutoSnapshot"))
        })
        .map(|a| {
            (
                a.status().unwrap_or_default().to_string(),
                a.snapshot_time_of_day().map(str::to_string),
            )
        }))
}

pub async fn inspect_addon(
    c: &Client,
    instance: &str,
    wanted: Option<&str>,
) -> CloudResult<Vec<SettingCheck>> {
    let Some(time) = wanted else {
        return Ok(Vec::new());
    };
    let state = addon_state(c, instance).await?;
    let actual = match &state {
        Some((status, t)) => format!(
            "{status}{}",
            t.as_ref().map(|t| format!(" at {t}")).unwrap_or_default()
        ),
        None => "off".to_string(),
    };
    Ok(vec![SettingCheck {
        setting: "lightsail.auto_snapshot".into(),
        expected: format!("Enabled at {time}"),
        ok: matches!(&state, Some((s, _)) if s == "Enabled"),
        actual,
    }])
}

pub async fn ensure_addon(c: &Client, instance: &str, time: &str) -> CloudResult<Vec<String>> {
    if matches!(addon_state(c, instance).await?, Some((s, _)) if s == "Enabled") {
        return Ok(Vec::new());
    }
    let request = AddOnRequest::builder()
        .add_on_type(AddOnType::AutoSnapshot)
        .auto_snapshot_add_on_request(
            AutoSnapshotAddOnRequest::builder()
                .snapshot_time_of_day(time)
                .build(),
        )
        .build()
        .map_err(|e| CloudError::new(CloudErrorKind::Invalid, "EnableAddOn", e.to_string()))?;
    c.enable_add_on()
        .resource_name(instance)
        .add_on_request(request)
        .send()
        .await
        .map_err(|e| map_sdk(Service::Lightsail, "EnableAddOn", e))?;
    Ok(vec![format!(
        "enabled the auto-snapshot add-on on {instance} at {time} UTC"
    )])
}
