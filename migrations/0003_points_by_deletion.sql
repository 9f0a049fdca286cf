-- Audits read a site's points as they stood at an instant: every point not deleted, plus
-- those deleted only after the instant. Most rows of a long-lived catalog are deleted
-- points kept as history; this index lets that read skip them (for the present it finds
-- none) instead of scanning every row.
CREATE INDEX points_by_deletion ON recovery_points (deleted_at) WHERE deleted_at IS NOT NULL;
