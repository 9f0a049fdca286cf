//! What the daemon keeps resident while it waits between fires.
//!
//! Start-up (the command line, the configuration and its schedules, the catalog's
//! migrations, the simulator's state) runs code spread over the whole executable, and the
//! kernel maps 64 KB around every page of code it faults in: about 9 MB of the binary's
//! code stayed mapped, most of it never run again. Once started, the daemon hands those
//! read-only pages back to the kernel (`MADV_PAGEOUT`): the kernel reclaims the ones no
//! other process maps, and what a later fire or renewal runs is read back in on use. It
//! does the same each time the runs of a turn have all finished (a run touches most of the
//! engine, the catalog and a cloud adapter): a fire reads a few MB back from the file, once
//! per fire, not at every lease renewal.
//! Nothing writable is touched and nothing can be lost: the pages are the file's own.

/// Hand back the resident pages of the executable's read-only mappings (code, read-only
/// data, relocation tables). Returns how many bytes of mappings were advised; 0 where the
/// system does not support it (not Linux, a kernel before 5.4, no `/proc`).
pub fn release_code_pages() -> usize {
    #[cfg(target_os = "linux")]
    {
        let (Ok(exe), Ok(maps)) = (
            std::fs::read_link("/proc/self/exe"),
            std::fs::read_to_string("/proc/self/maps"),
        ) else {
            return 0;
        };
        let exe = exe.to_string_lossy();
        read_only_mappings_of(&maps, &exe)
            .into_iter()
            .filter(|&(start, len)| {
                // SAFETY: the range is one of this process's own mappings as /proc lists it;
                // MADV_PAGEOUT only reclaims pages (a file-backed page is read back from the
                // file on its next use) and never changes what the memory reads.
                unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_PAGEOUT) == 0 }
            })
            .map(|(_, len)| len)
            .sum()
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// (start, length) of each mapping of `exe` in a `/proc/self/maps` text that is not
/// writable.
fn read_only_mappings_of(maps: &str, exe: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            // address perms offset dev inode pathname (which may hold spaces)
            let mut fields = line.splitn(6, ' ');
            let range = fields.next()?;
            let perms = fields.next()?;
            let path = fields.nth(3)?.trim_start();
            if path != exe || perms.contains('w') {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            Some((start, end.checked_sub(start)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_executables_mappings_that_cannot_be_written_are_released() {
        let maps = "\
55d0c1a00000-55d0c1c00000 r--p 00000000 fd:01 42                         /usr/local/bin/wp backup
55d0c1c00000-55d0c2000000 r-xp 00200000 fd:01 42                         /usr/local/bin/wp backup
55d0c2000000-55d0c2100000 r--p 00600000 fd:01 42                         /usr/local/bin/wp backup
55d0c2100000-55d0c2110000 rw-p 00700000 fd:01 42                         /usr/local/bin/wp backup
55d0c2110000-55d0c2120000 rw-p 00000000 00:00 0 
7f0000000000-7f0000100000 r-xp 00000000 fd:01 77                         /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000100000-7f0000200000 r-xp 00000000 fd:01 43                         /usr/local/bin/wp backup-other
";
        assert_eq!(
            read_only_mappings_of(maps, "/usr/local/bin/wp backup"),
            vec![
                (0x55d0c1a00000, 0x200000),
                (0x55d0c1c00000, 0x400000),
                (0x55d0c2000000, 0x100000),
            ]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn releasing_the_pages_of_this_test_binary_keeps_it_running() {
        // The test binary's code is paged out and read back as the test goes on.
        assert!(release_code_pages() > 0);
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!(v.iter().sum::<u64>(), 499_500);
    }
}
