#!/usr/bin/env python3
"""Writes realistic syslog files for ferroban's benchmarks.

  scripts/genlogs.py sshd LINES OUT     an auth.log: sshd, pam, cron and systemd-logind noise
  scripts/genlogs.py mail LINES OUT     a mail.log: postfix (smtpd, qmgr, cleanup, smtp) + dovecot

About 10% of the lines are authentication failures of the kinds the stock sshd, dovecot and
postfix (mode=auth) filters catch; the rest is ordinary traffic. Output is deterministic for a
given LINES (fixed seed) so runs compare across machines and versions.
"""

import random
import sys
import time

START = 1_763_000_000  # a fixed instant in November 2025
USERS = ["root", "admin", "test", "oracle", "ubuntu", "git", "postgres", "alice", "bob", "deploy"]
HOSTS = ["mail", "gw", "web1"]


def ip(rng):
    net = rng.choice(["192.0.2", "198.51.100", "203.0.113", "100.64.%d" % rng.randrange(256)])
    return "%s.%d" % (net, rng.randrange(1, 255))


def stamp(t):
    return time.strftime("%b %e %H:%M:%S", time.gmtime(t))


def sshd_line(rng, host, pid):
    a, u, port = ip(rng), rng.choice(USERS), rng.randrange(1024, 65535)
    if rng.random() < 0.10:
        return rng.choice([
            "sshd[%d]: Failed password for %s from %s port %d ssh2" % (pid, u, a, port),
            "sshd[%d]: Failed password for invalid user %s from %s port %d ssh2" % (pid, u, a, port),
            "sshd[%d]: Invalid user %s from %s port %d" % (pid, u, a, port),
            "sshd[%d]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=%s" % (pid, a, u),
            "sshd[%d]: Connection closed by authenticating user %s %s port %d [preauth]" % (pid, u, a, port),
        ])
    return rng.choice([
        "sshd[%d]: Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:Jx3c9Qk0vYqQ2m3m8b1d4Ff0aZk" % (pid, u, a, port),
        "sshd[%d]: pam_unix(sshd:session): session opened for user %s(uid=1000) by (uid=0)" % (pid, u),
        "sshd[%d]: pam_unix(sshd:session): session closed for user %s" % (pid, u),
        "sshd[%d]: Received disconnect from %s port %d:11: disconnected by user" % (pid, a, port),
        "sshd[%d]: Disconnected from user %s %s port %d" % (pid, u, a, port),
        "CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)" % pid,
        "CRON[%d]: pam_unix(cron:session): session closed for user root" % pid,
        "systemd-logind[412]: New session %d of user %s." % (pid % 9000, u),
        "systemd-logind[412]: Session %d logged out. Waiting for processes to exit." % (pid % 9000),
        "systemd[1]: Started session-%d.scope - Session %d of User %s." % (pid % 9000, pid % 9000, u),
    ])


def mail_line(rng, host, pid):
    a, u = ip(rng), rng.choice(USERS)
    qid = "%010X" % rng.randrange(16 ** 10)
    if rng.random() < 0.10:
        return rng.choice([
            "postfix/smtpd[%d]: warning: unknown[%s]: SASL LOGIN authentication failed: UGFzc3dvcmQ6" % (pid, a),
            "postfix/smtpd[%d]: warning: cust.example.net[%s]: SASL PLAIN authentication failed: authentication failure" % (pid, a),
            "dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<%s>, method=PLAIN, rip=%s, lip=192.0.2.1, TLS, session=<Lk3QsmAA0sLAqAEK>" % (u, a),
            "dovecot: pop3-login: Aborted login (auth failed, 1 attempts in 2 secs): user=<%s>, method=PLAIN, rip=%s, lip=192.0.2.1, session=<Yz1QsmAA0sLAqAEK>" % (u, a),
            "dovecot: auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=%s rhost=%s  user=%s" % (u, a, u),
        ])
    return rng.choice([
        "postfix/smtpd[%d]: connect from unknown[%s]" % (pid, a),
        "postfix/smtpd[%d]: disconnect from unknown[%s] ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6" % (pid, a),
        "postfix/smtpd[%d]: %s: client=unknown[%s], sasl_method=PLAIN, sasl_username=%s" % (pid, qid, a, u),
        "postfix/cleanup[%d]: %s: message-id=<%d.%s@example.org>" % (pid, qid, pid, qid.lower()),
        "postfix/qmgr[811]: %s: from=<%s@example.org>, size=%d, nrcpt=1 (queue active)" % (qid, u, rng.randrange(900, 90000)),
        "postfix/smtp[%d]: %s: to=<%s@example.com>, relay=mx.example.com[%s]:25, delay=0.51, delays=0.02/0.01/0.2/0.28, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)" % (pid, qid, u, a),
        "postfix/qmgr[811]: %s: removed" % qid,
        "dovecot: imap-login: Login: user=<%s>, method=PLAIN, rip=%s, lip=192.0.2.1, mpid=%d, TLS, session=<AbCdEf0123456789>" % (u, a, pid),
        "dovecot: imap(%s)<%d><AbCdEf0123456789>: Disconnected: Logged out in=123 out=4567 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0" % (u, pid),
        "dovecot: lmtp(%d): Connect from local" % pid,
    ])


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("sshd", "mail"):
        sys.exit(__doc__)
    kind, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(20251113)
    make = sshd_line if kind == "sshd" else mail_line
    t = START
    with open(out, "w") as f:
        for _ in range(count):
            t += rng.random() * 0.3
            host = HOSTS[0] if kind == "mail" else HOSTS[1]
            f.write("%s %s %s\n" % (stamp(int(t)), host, make(rng, host, rng.randrange(1000, 60000))))


if __name__ == "__main__":
    main()
