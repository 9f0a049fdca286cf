// Restore planning and audits allocate and free millions of small records (a catalog's
// points); mimalloc does that several times faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(wpbackup::cli::main());
}
