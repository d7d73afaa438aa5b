//! GPUs read through the engine: `nvidia-smi --query-gpu` CSV (from a probe container on the server) parsed
//! into the same [`NvmlReading`] as the NVML library gives, so one inventory and one judgement serve both.
//!
//! nvidia-smi prints MiB (`nounits`); NVML's reading is in bytes, so MiB are multiplied back (the
//! inventory divides them again, exactly). Processes are not queried (they need `--query-compute-apps`),
//! and the CUDA version the driver supports is not a `--query-gpu` field: it follows from the driver
//! branch ([`cuda_for_driver`]).

use super::gpu::{
    NvmlComputeCapability, NvmlDevice, NvmlMemory, NvmlMigMode, NvmlReading, NvmlSnapshot,
};
use crate::problem::Explain;

const MIB: u64 = 1024 * 1024;

/// The fields asked for, in the order the parser reads them.
pub const QUERY_FIELDS: [&str; 11] = [
    "index",
    "uuid",
    "name",
    "pci.bus_id",
    "memory.total",
    "memory.used",
    "memory.free",
    "compute_cap",
    "driver_version",
    "mig.mode.current",
    "mig.mode.pending",
];

/// The probe's arguments to `nvidia-smi`.
pub fn query_args() -> Vec<String> {
    vec![
        format!("--query-gpu={}", QUERY_FIELDS.join(",")),
        "--format=csv,noheader,nounits".to_string(),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmiParseError {
    #[error("nvidia-smi line {line}: expected {expected} fields, found {found}: {text}")]
    Fields {
        line: usize,
        expected: usize,
        found: usize,
        text: String,
    },
    #[error("nvidia-smi line {line}: {field} is not a number: {value}")]
    Number {
        line: usize,
        field: &'static str,
        value: String,
    },
    #[error("nvidia-smi reported different driver versions: {0} and {1}")]
    Drivers(String, String),
}

impl Explain for SmiParseError {
    fn code(&self) -> &'static str {
        "gpu.probe_output"
    }
    fn fix(&self) -> Option<String> {
        Some(
            "run nvidia-smi on the server to see its own output; an older driver may not know a \
             queried field"
                .into(),
        )
    }
}

/// Parses the CSV. No line at all is a driver with no GPU (the inventory then reports none).
pub fn parse(csv: &str) -> Result<NvmlReading, SmiParseError> {
    let mut devices = Vec::new();
    let mut driver: Option<String> = None;
    for (i, text) in csv.lines().enumerate() {
        let line = i + 1;
        if text.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = text.split(',').map(str::trim).collect();
        if f.len() != QUERY_FIELDS.len() {
            return Err(SmiParseError::Fields {
                line,
                expected: QUERY_FIELDS.len(),
                found: f.len(),
                text: text.to_string(),
            });
        }
        let num = |at: usize| -> Result<u64, SmiParseError> {
            f[at].parse().map_err(|_| SmiParseError::Number {
                line,
                field: QUERY_FIELDS[at],
                value: f[at].to_string(),
            })
        };
        // `[N/A]` memory (e.g. under MIG on some drivers) reads as 0 used, all free: nothing is known held.
        let mib = |at: usize| -> Result<Option<u64>, SmiParseError> {
            if not_available(f[at]) {
                Ok(None)
            } else {
                num(at).map(Some)
            }
        };
        let total = mib(4)?.unwrap_or(0);
        let used = mib(5)?.unwrap_or(0);
        let free = mib(6)?.unwrap_or(total.saturating_sub(used));
        match &driver {
            Some(d) if d != f[8] => return Err(SmiParseError::Drivers(d.clone(), f[8].into())),
            _ => driver = Some(f[8].to_string()),
        }
        devices.push(NvmlDevice {
            index: u32::try_from(num(0)?).unwrap_or(u32::MAX),
            uuid: f[1].to_string(),
            name: f[2].to_string(),
            pci_bus_id: f[3].to_string(),
            memory: NvmlMemory {
                total: total * MIB,
                free: free * MIB,
                used: used * MIB,
            },
            cuda_compute_capability: compute_capability(f[7]),
            mig_mode: mig_mode(f[9], f[10]),
            processes: Vec::new(),
            read_errors: f
                .iter()
                .zip(QUERY_FIELDS)
                .filter(|(v, _)| not_available(v))
                .map(|(_, k)| format!("{k}: [N/A]"))
                .collect(),
        });
    }
    let driver_version = driver.unwrap_or_default();
    Ok(NvmlReading::Available(NvmlSnapshot {
        cuda_driver_version: cuda_for_driver(&driver_version),
        driver_version,
        devices,
    }))
}

fn not_available(v: &str) -> bool {
    matches!(v, "[N/A]" | "N/A" | "[Not Supported]" | "[Unknown Error]")
}

/// "8.0" → 8.0; `[N/A]` → 0.0, which no catalog floor accepts.
fn compute_capability(v: &str) -> NvmlComputeCapability {
    let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
    NvmlComputeCapability {
        major: major.parse().unwrap_or(0),
        minor: minor.parse().unwrap_or(0),
    }
}

/// `Enabled`/`Disabled`; `[N/A]` where the GPU has no MIG (NVML's "not supported").
fn mig_mode(current: &str, pending: &str) -> Option<NvmlMigMode> {
    let bit = |v: &str| match v {
        "Enabled" => Some(1),
        "Disabled" => Some(0),
        _ => None,
    };
    Some(NvmlMigMode {
        current: bit(current)?,
        pending: bit(pending).unwrap_or(bit(current)?),
    })
}

/// The newest CUDA version a driver supports, packed as NVML packs it (major * 1000 + minor * 10), from
/// the minimum Linux driver of each CUDA release (docs/sources.md, "CUDA drivers"); 0 when older than all.
pub fn cuda_for_driver(driver: &str) -> i32 {
    // (minimum driver, CUDA) newest first.
    const TABLE: [((u32, u32), i32); 15] = [
        ((580, 65), 13000),
        ((575, 51), 12090),
        ((570, 86), 12080),
        ((565, 57), 12070),
        ((560, 28), 12060),
        ((555, 42), 12050),
        ((550, 54), 12040),
        ((545, 23), 12030),
        ((535, 54), 12020),
        ((530, 30), 12010),
        ((525, 60), 12000),
        ((520, 61), 11080),
        ((515, 43), 11070),
        ((510, 39), 11060),
        ((470, 42), 11040),
    ];
    let mut parts = driver.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    TABLE
        .iter()
        .find(|(min, _)| version >= *min)
        .map_or(0, |(_, cuda)| *cuda)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_follows_the_driver_branch() {
        assert_eq!(cuda_for_driver("535.183.01"), 12020);
        assert_eq!(cuda_for_driver("550.127.05"), 12040);
        assert_eq!(cuda_for_driver("570.86.15"), 12080);
        assert_eq!(cuda_for_driver("570.26.01"), 12070);
        assert_eq!(cuda_for_driver("460.1"), 0);
        assert_eq!(cuda_for_driver(""), 0);
    }

    #[test]
    fn a_short_line_is_an_error_naming_it() {
        let e = parse("0, GPU-1, Tesla T4\n").unwrap_err();
        assert!(matches!(
            e,
            SmiParseError::Fields {
                line: 1,
                found: 3,
                ..
            }
        ));
    }

    #[test]
    fn a_word_where_a_number_belongs_is_an_error() {
        let e = parse("0, GPU-1, T4, 00:1.0, lots, 0, 0, 7.5, 535.1, [N/A], [N/A]\n").unwrap_err();
        assert_eq!(
            e,
            SmiParseError::Number {
                line: 1,
                field: "memory.total",
                value: "lots".into()
            }
        );
    }

    #[test]
    fn no_line_is_a_driver_without_gpus() {
        let NvmlReading::Available(s) = parse("").unwrap() else {
            panic!("available")
        };
        assert!(s.devices.is_empty());
    }
}
