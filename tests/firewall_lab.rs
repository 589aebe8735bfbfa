//! The network-namespace lab itself: a firewall rule in the server namespace drops the
//! attacker and only the attacker, and the host's own rules stay untouched.

use crate::lab_or_skip;

#[test]
fn drop_rule_in_server_namespace_blocks_attacker_only() {
    let mut lab = lab_or_skip!();
    lab.listen_tcp(143);
    let server_v4 = lab.server_addr.toward_attacker_v4.clone();
    let server_v6 = lab.server_addr.toward_attacker_v6.clone();
    let bystander_target = lab.server_addr.toward_bystander_v4.clone();
    assert!(
        lab.connects(&lab.attacker.netns, &server_v4, 143),
        "attacker reaches the server before any rule"
    );
    assert!(
        lab.connects(&lab.attacker.netns, &server_v6, 143),
        "attacker reaches the server over IPv6"
    );

    let out = lab.exec(
        &lab.server,
        &[
            "iptables",
            "-w",
            "-I",
            "INPUT",
            "-s",
            &lab.attacker.ipv4,
            "-j",
            "DROP",
        ],
    );
    assert!(
        out.status.success(),
        "iptables: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert!(
        !lab.connects(&lab.attacker.netns, &server_v4, 143),
        "attacker is dropped"
    );
    assert!(
        lab.connects(&lab.bystander.netns, &bystander_target, 143),
        "bystander still connects"
    );
    let host_rules = std::process::Command::new("iptables")
        .args(["-w", "-S", "INPUT"])
        .output()
        .expect("iptables on host");
    assert!(
        !String::from_utf8_lossy(&host_rules.stdout).contains(&lab.attacker.ipv4),
        "the host's own firewall must not see the lab's rule"
    );
}
