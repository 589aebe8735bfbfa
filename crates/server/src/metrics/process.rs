//! The process metrics every Prometheus client library exports (`process_*`), read from
//! `/proc/self` at each scrape. A value that cannot be read is left out of that scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The kernel's `USER_HZ`, the unit of `/proc/PID/stat`'s times: 100 on every Linux
/// architecture (the kernel converts from its own HZ), as Prometheus's procfs assumes.
const USER_HZ: f64 = 100.0;

#[derive(Debug)]
pub(super) struct ProcessCollector;

/// What one scrape read.
#[derive(Debug, Default, PartialEq)]
pub(super) struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub virtual_memory_bytes: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

impl ProcessStats {
    fn read() -> ProcessStats {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let stat = read("/proc/self/stat").and_then(|text| parse_stat(&text));
        let boot_time = read("/proc/stat").and_then(|text| parse_boot_time(&text));
        ProcessStats {
            cpu_seconds: stat.map(|stat| stat.cpu_seconds),
            start_time_seconds: stat
                .zip(boot_time)
                .map(|(stat, boot)| boot + stat.start_after_boot),
            virtual_memory_bytes: stat.map(|stat| stat.virtual_bytes),
            resident_memory_bytes: read("/proc/self/status").and_then(|text| parse_rss(&text)),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as f64),
            max_fds: read("/proc/self/limits").and_then(|text| parse_max_fds(&text)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Stat {
    pub cpu_seconds: f64,
    pub start_after_boot: f64,
    pub virtual_bytes: f64,
}

/// `/proc/self/stat`: utime and stime (fields 14, 15), starttime (22), vsize (23). The
/// command name (field 2) may hold spaces and parentheses: fields are counted after its
/// closing parenthesis.
pub(super) fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3.
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    let ticks = field(14)? + field(15)?;
    Some(Stat {
        cpu_seconds: ticks as f64 / USER_HZ,
        start_after_boot: field(22)? as f64 / USER_HZ,
        virtual_bytes: field(23)? as f64,
    })
}

/// `/proc/stat`'s `btime`: when the machine booted, in Unix seconds.
pub(super) fn parse_boot_time(text: &str) -> Option<f64> {
    let line = text.lines().find(|line| line.starts_with("btime "))?;
    line["btime ".len()..]
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s as f64)
}

/// `/proc/self/status`'s `VmRSS: N kB`.
pub(super) fn parse_rss(text: &str) -> Option<f64> {
    let line = text.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes = line["VmRSS:".len()..].split_whitespace().next()?;
    kilobytes.parse::<u64>().ok().map(|kb| (kb * 1024) as f64)
}

/// `/proc/self/limits`' soft limit of `Max open files` (none when unlimited).
pub(super) fn parse_max_fds(text: &str) -> Option<f64> {
    let line = text
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    soft.parse::<u64>().ok().map(|n| n as f64)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = ProcessStats::read();
        if let Some(seconds) = stats.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                counter.metric_type(),
            )?;
            counter.encode(metric)?;
        }
        let gauges = [
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                stats.start_time_seconds,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                stats.virtual_memory_bytes,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                stats.resident_memory_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                stats.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                stats.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            let Some(value) = value else { continue };
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}
