// TEST FIXTURE: a fake `nvidia-smi` for the GPU probe's tests on machines without GPUs. Std only, compiled
// static by `aigw_e2e::fake_smi`. It accepts exactly the probe's query (any other argument list exits 2,
// so a changed query cannot pass unnoticed) and prints `/fixture.csv`. A fixture starting with `HANG`
// never answers; one starting with `FAIL` prints the rest to stderr and exits 9 (as a broken driver).

const QUERY: &str = include_str!("fake_nvidia_smi.query");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let want: Vec<&str> = QUERY.split_whitespace().collect();
    if args != want {
        eprintln!("fake nvidia-smi: unexpected arguments {args:?}, expected {want:?}");
        std::process::exit(2);
    }
    let csv = std::fs::read_to_string("/fixture.csv").unwrap_or_default();
    if csv.starts_with("HANG") {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    if let Some(rest) = csv.strip_prefix("FAIL") {
        eprint!("{}", rest.trim_start());
        std::process::exit(9);
    }
    print!("{csv}");
}
