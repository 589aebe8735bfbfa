#!/usr/bin/env python3
"""A second, differently shaped log generator for ferroban's benchmarks (not tuned on).

  scripts/genlogs2.py sshd LINES OUT     an auth.log from a fleet of hosts
  scripts/genlogs2.py mail LINES OUT     a mail.log: postfix, dovecot and other daemons

Where scripts/genlogs.py writes three host names, IPv4 only, a few daemons and ~10%
failures, this one differs on purpose: long FQDN host names, syslog dates with the RFC 3164
double-space day and an occasional ISO 8601 date (rsyslog's high-precision format), IPv6
addresses for a third of the clients, noise from other daemons (kernel, sudo, named, nginx,
systemd units, rsyslogd, chronyd), failure bursts from a few addresses, and ~25% failures.
Deterministic for a given LINES (fixed seed).
"""

import random
import sys
import time

START = 1_764_500_000  # early December 2025
USERS = ["root", "admin", "oracle", "pi", "ubnt", "support", "user1", "jenkins", "www-data",
         "ftpuser", "nagios", "test123", "mysql", "carol", "dave"]
HOSTS = ["edge-fra-01.infra.example.net", "db3.lan", "mx2.mail.example.org", "bastion"]
NOISE = [
    "kernel: [%d.%06d] IPv4: martian source 10.0.0.%d from 10.0.0.1, on dev eth0",
    "sudo:   carol : TTY=pts/%d ; PWD=/home/carol ; USER=root ; COMMAND=/usr/bin/apt update",
    "named[%d]: client @0x7f%06x 192.0.2.53#%d (example.com): query (cache) 'example.com/A/IN' denied",
    "nginx[%d]: 2025/12/01 10:00:00 [error] 1#1: *%d open() \"/srv/www/favicon.ico\" failed (2: No such file or directory)",
    "systemd[1]: Starting apt-daily.service - Daily apt download activities (%d)...",
    "rsyslogd[%d]: imuxsock: Acquired UNIX socket '/run/systemd/journal/syslog' (fd %d) from systemd.",
    "chronyd[%d]: Selected source 192.0.2.%d (2.debian.pool.ntp.org)",
    "dbus-daemon[%d]: [system] Successfully activated service 'org.freedesktop.hostname1' (%d)",
]


def address(rng, burst):
    if burst and rng.random() < 0.6:
        return burst[rng.randrange(len(burst))]
    if rng.random() < 0.33:
        return "2001:db8:%x:%x::%x" % (rng.randrange(65536), rng.randrange(65536), rng.randrange(1, 65536))
    return "%d.%d.%d.%d" % (rng.choice([45, 61, 85, 103, 185, 193]), rng.randrange(256),
                            rng.randrange(256), rng.randrange(1, 255))


def stamp(rng, t):
    if rng.random() < 0.05:
        frac = int((t % 1) * 1_000_000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06d+00:00" % frac
    return time.strftime("%b %e %H:%M:%S", time.gmtime(t))


def noise(rng, pid):
    template = rng.choice(NOISE)
    return template % tuple(rng.randrange(1, 60000) for _ in range(template.count("%")))


def sshd_line(rng, pid, burst):
    a, u, port = address(rng, burst), rng.choice(USERS), rng.randrange(1024, 65535)
    if rng.random() < 0.25:
        return rng.choice([
            "sshd[%d]: Failed password for %s from %s port %d ssh2" % (pid, u, a, port),
            "sshd[%d]: Failed password for invalid user %s from %s port %d ssh2" % (pid, u, a, port),
            "sshd[%d]: Failed keyboard-interactive/pam for invalid user %s from %s port %d ssh2" % (pid, u, a, port),
            "sshd[%d]: Invalid user %s from %s port %d" % (pid, u, a, port),
            "sshd[%d]: error: maximum authentication attempts exceeded for %s from %s port %d ssh2 [preauth]" % (pid, u, a, port),
            "sshd[%d]: User %s from %s not allowed because not listed in AllowUsers" % (pid, u, a),
            "sshd[%d]: Disconnecting invalid user %s %s port %d: Too many authentication failures [preauth]" % (pid, u, a, port),
        ])
    if rng.random() < 0.5:
        return noise(rng, pid)
    return rng.choice([
        "sshd[%d]: Accepted password for %s from %s port %d ssh2" % (pid, u, a, port),
        "sshd[%d]: pam_unix(sshd:session): session opened for user %s(uid=1001) by %s(uid=0)" % (pid, u, u),
        "sshd[%d]: Connection closed by %s port %d" % (pid, a, port),
        "sshd[%d]: Server listening on :: port 22." % pid,
        "sshd[%d]: Timeout, client not responding from %s port %d" % (pid, a, port),
    ])


def mail_line(rng, pid, burst):
    a, u = address(rng, burst), rng.choice(USERS)
    qid = "4%s" % "".join(rng.choice("BCDFGHJKLMNPQRSTVWXYZ0123456789") for _ in range(9))
    if rng.random() < 0.25:
        return rng.choice([
            "postfix/submission/smtpd[%d]: warning: unknown[%s]: SASL LOGIN authentication failed: UGFzc3dvcmQ6" % (pid, a),
            "postfix/smtps/smtpd[%d]: warning: host-%d.example.com[%s]: SASL PLAIN authentication failed: " % (pid, pid, a),
            "dovecot: imap-login: Disconnected (auth failed, 3 attempts in 14 secs): user=<%s>, method=PLAIN, rip=%s, lip=2001:db8::25, TLS: Disconnected, session=<q1w2e3r4t5>" % (u, a),
            "dovecot: pop3-login: Aborted login (auth failed, 1 attempts in 4 secs): user=<%s>, method=LOGIN, rip=%s, lip=198.51.100.25, session=<z9x8c7v6>" % (u, a),
            "dovecot: auth-worker(%d): pam(%s,%s,<sess%d>): pam_authenticate() failed: Authentication failure (Password mismatch?)" % (pid, u, a, pid),
        ])
    if rng.random() < 0.4:
        return noise(rng, pid)
    return rng.choice([
        "postfix/smtpd[%d]: connect from mail-%d.example.com[%s]" % (pid, pid, a),
        "postfix/smtpd[%d]: lost connection after EHLO from unknown[%s]" % (pid, a),
        "postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[%s]: 554 5.7.1 Service unavailable; from=<x@y.z> to=<%s@example.org> proto=ESMTP" % (pid, a, u),
        "postfix/pickup[%d]: %s: uid=33 from=<www-data>" % (pid, qid),
        "postfix/local[%d]: %s: to=<%s@mx2.mail.example.org>, relay=local, delay=0.1, status=sent (delivered to mailbox)" % (pid, qid, u),
        "dovecot: imap(%s)<%d><q1w2e3r4>: Logged out in=%d out=%d" % (u, pid, pid % 999, pid),
        "dovecot: lmtp(%s)<%d><abc>: msgid=<%d@example.org>: saved mail to INBOX" % (u, pid, pid),
        "opendkim[%d]: %s: DKIM-Signature field added (s=mail, d=example.org)" % (pid, qid),
    ])


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("sshd", "mail"):
        sys.exit(__doc__)
    kind, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(20251201)
    make = sshd_line if kind == "sshd" else mail_line
    t, burst = float(START), []
    with open(out, "w") as f:
        for n in range(count):
            t += rng.random() * 0.05
            if n % 5000 == 0:
                burst = [address(rng, None) for _ in range(rng.randrange(1, 4))]
            host = HOSTS[n % len(HOSTS)] if kind == "sshd" else HOSTS[2]
            f.write("%s %s %s\n" % (stamp(rng, t), host, make(rng, rng.randrange(1000, 60000), burst)))


if __name__ == "__main__":
    main()
