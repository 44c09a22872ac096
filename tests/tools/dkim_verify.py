#!/usr/bin/env python3
"""Verifies every DKIM signature of messages with dkimpy (Debian python3-dkim; python3-nacl for
ed25519-sha256), an implementation independent of mailplane's signer (src/mime/dkim.h).

Usage: dkim_verify.py --record NAME TXT [--record NAME TXT ...] MESSAGE...
  NAME is where the key is published (selector._domainkey.domain), TXT the record's text
  ("v=DKIM1; k=ed25519; p=..."). No real DNS is queried: the lookups are answered from --record.
Prints one line per message, "<path> pass" when it has at least one signature and all verify,
"<path> fail <reason>" otherwise. Exits 0 when every message passed, 1 otherwise, 2 on bad usage.
"""
import argparse
import sys

import dkim


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", nargs=2, action="append", default=[], metavar=("NAME", "TXT"))
    parser.add_argument("messages", nargs="+")
    args = parser.parse_args()
    records = {name.lower().rstrip("."): txt.encode() for name, txt in args.record}

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        return records.get(name.lower().rstrip("."))

    all_passed = True
    for path in args.messages:
        with open(path, "rb") as f:
            message = f.read()
        verdict = "pass"
        try:
            d = dkim.DKIM(message)
            count = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
            if count == 0:
                verdict = "fail no signature"
            for idx in range(count):
                if not d.verify(idx=idx, dnsfunc=dnsfunc):
                    verdict = "fail signature %d did not verify" % idx
                    break
        except dkim.DKIMException as e:
            verdict = "fail %s" % e
        if verdict != "pass":
            all_passed = False
        print(path, verdict.replace("\n", " "))
    return 0 if all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
