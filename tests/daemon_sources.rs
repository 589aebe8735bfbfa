//! How the daemon reads its logs: `tail`, `logencoding` and multi-line filters
//! (`maxlines`).

use std::time::Duration;

use crate::daemon_common::{ServerProcess, TestDir, append_line, syslog_now, wait_until};
use crate::record_jail::{base, fail, jail, total_failed};

#[test]
fn tail_logencoding_and_multiline_filters_in_the_daemon() {
    let dir = TestDir::new();
    base(&dir);
    dir.write_conf(
        "filter.d/twoline.conf",
        "[Definition]\nfailregex = ^.* session for <F-USER>\\S+</F-USER>\\n.* auth failed from <HOST>$\n\
         [Init]\nmaxlines = 2\n",
    );
    let (tailed, latin, multi) = (dir.path("t.log"), dir.path("l.log"), dir.path("m.log"));
    fail(&tailed, "192.0.2.1", 2);
    let mut jails = jail("tailed", &tailed, "").replace(
        &format!("logpath = {}", tailed.display()),
        &format!("logpath = {} tail", tailed.display()),
    );
    jails.push_str(&jail("latin", &latin, "logencoding = latin-1\n"));
    jails.push_str(&jail("multi", &multi, "").replace("filter = e2e", "filter = twoline"));
    dir.write_conf("jail.conf", &jails);
    let server = ServerProcess::start_here(&dir);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        total_failed(&server, "tailed"),
        Some(0),
        "tail skips old lines"
    );
    fail(&tailed, "192.0.2.1", 1);
    let mut latin_line = format!("{} host e2e: J", syslog_now()).into_bytes();
    latin_line.extend_from_slice(b"\xfcrgen auth failed from 192.0.2.2\n");
    std::fs::write(&latin, latin_line).unwrap();
    append_line(
        &multi,
        &format!("{} host e2e: session for eve", syslog_now()),
    );
    fail(&multi, "192.0.2.3", 1);
    let done = wait_until(Duration::from_secs(10), || {
        total_failed(&server, "tailed") == Some(1)
            && total_failed(&server, "latin") == Some(1)
            && total_failed(&server, "multi") == Some(1)
    });
    assert!(
        done,
        "tailed {:?} latin {:?} multi {:?}\n{}",
        total_failed(&server, "tailed"),
        total_failed(&server, "latin"),
        total_failed(&server, "multi"),
        dir.log_text()
    );
}
