//! `cluster status` rendered in fail2ban-client's tree style: this node's link to the
//! fleet's database, then every node seen and the shared bans per jail.

use ferroban_protocol::ClusterStatusReply;

pub fn render(status: &ClusterStatusReply) -> String {
    let connection = match (status.connected, &status.error) {
        (true, _) => "connected".to_string(),
        (false, Some(error)) => format!("disconnected: {error}"),
        (false, None) => "connecting".to_string(),
    };
    let mut lines = vec![
        format!("Fleet status for the node: {}", status.node),
        format!("|- Database:\t{}", status.database),
        format!("|- Connection:\t{connection}"),
        format!("|- Last event id:\t{}", status.last_event),
        format!("|- Applied up to:\t{}", status.applied),
        format!("|- Outbox backlog:\t{}", status.outbox),
        format!("|- Nodes seen:\t{}", status.nodes.len()),
    ];
    for (n, node) in status.nodes.iter().enumerate() {
        let branch = if n + 1 == status.nodes.len() {
            "`-"
        } else {
            "|-"
        };
        lines.push(format!(
            "|  {branch} {}:\tseen {} s ago, {} events behind, {} queued",
            node.name, node.seen_ago, node.behind, node.outbox
        ));
    }
    let shares: Vec<String> = status
        .jails
        .iter()
        .map(|(jail, bans)| format!("{jail} {bans}"))
        .collect();
    lines.push(format!("`- Shared bans:\t{}", shares.join(", ")));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use ferroban_protocol::ClusterNode;

    use super::*;

    #[test]
    fn tree_of_the_fleet() {
        let status = ClusterStatusReply {
            node: "mx1".into(),
            database: "ferroban@db:5432/fleet".into(),
            connected: false,
            error: Some("connection refused".into()),
            last_event: 42,
            applied: 40,
            outbox: 3,
            nodes: vec![
                ClusterNode {
                    name: "mx1".into(),
                    seen_ago: 4,
                    applied: 40,
                    behind: 2,
                    outbox: 3,
                },
                ClusterNode {
                    name: "mx2".into(),
                    seen_ago: 1,
                    applied: 42,
                    behind: 0,
                    outbox: 0,
                },
            ],
            jails: vec![("sshd".into(), 5), ("web".into(), 1)],
        };
        assert_eq!(
            render(&status),
            "Fleet status for the node: mx1\n\
             |- Database:\tferroban@db:5432/fleet\n\
             |- Connection:\tdisconnected: connection refused\n\
             |- Last event id:\t42\n\
             |- Applied up to:\t40\n\
             |- Outbox backlog:\t3\n\
             |- Nodes seen:\t2\n\
             |  |- mx1:\tseen 4 s ago, 2 events behind, 3 queued\n\
             |  `- mx2:\tseen 1 s ago, 0 events behind, 0 queued\n\
             `- Shared bans:\tsshd 5, web 1"
        );
    }
}
