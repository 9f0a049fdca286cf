fn main() {
    std::process::exit(wpbackup::cli::main());
}
