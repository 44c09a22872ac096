#!/usr/bin/env python3
"""An SMTP server with injected faults, for mailplane's delivery-engine tests.

Started by tests/integration/lib/peers.mjs (startSmtpPeer). Standard library only (asyncio):
aiosmtpd cannot close a connection without a reply, nor tell whether a client pipelined, so the
protocol is spoken here directly.

    smtp_peer.py --ip 127.0.0.4 --port 0 --mode accept [--defer-times N] [--tls-cert F --tls-key F]
                 [--hostname NAME] [--reject-rcpt ADDR]... [--tempfail-rcpt ADDR]...
                 [--max-rcpts N] [--greeting-delay-ms MS]

Listens on ip:port (port 0: the kernel picks one; exits 2 with a message on stderr when it cannot)
and writes one JSON object per line on stdout:
  {"event": "ready", "ip", "port", "mode", "tls"}         once listening
  {"event": "connect", "conn", "peer": [ip, port]}
  {"event": "ehlo", "conn", "verb": "EHLO"|"HELO", "name"}
  {"event": "starttls", "conn", "version", "cipher"}
  {"event": "pipelined", "conn", "command"}               the client sent more bytes before it had
                                                          the reply to `command` (EHLO, MAIL, RCPT,
                                                          DATA, DATA-END = the final dot, ...)
  {"event": "txn", "conn", "index", "mailFrom", "mailParams", "rcpts": [{"addr", "params", "reply"}],
   "rcptTo": [accepted addrs], "outcome", "reply", "data": base64|null, "tls", "ehlo"}
                                                          one per MAIL FROM, when it ends; outcome is
                                                          accepted | rejected-data | tempfail-data |
                                                          no-valid-rcpt | disconnected-at-mail |
                                                          disconnected-at-data-cmd |
                                                          disconnected-at-data | rset | quit |
                                                          client-closed
  {"event": "close", "conn", "by": "client"|"server", "quit": bool, "messages", "transactions"}
Every event is flushed before the reply it concerns is sent.

Modes (see peers.mjs for the full description): accept, no-pipelining, disconnect-at-mail,
disconnect-at-data-cmd, disconnect-at-data, tempfail-rcpt, reject-rcpt-550, defer-then-accept,
greeting-421, tempfail-data, reject-data.
"""

import argparse
import asyncio
import base64
import json
import signal
import ssl
import sys

MODES = (
    "accept",
    "no-pipelining",
    "disconnect-at-mail",
    "disconnect-at-data-cmd",
    "disconnect-at-data",
    "tempfail-rcpt",
    "reject-rcpt-550",
    "defer-then-accept",
    "greeting-421",
    "tempfail-data",
    "reject-data",
    "broken-starttls",
)
MAX_LINE = 65536
IDLE_TIMEOUT = 120


def emit(**ev):
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()


def parse_path(arg, keyword):
    """'FROM:<a@b> SIZE=1' -> ('a@b', ['SIZE=1']), or None when malformed."""
    if not arg[: len(keyword) + 1].upper() == keyword + ":":
        return None
    rest = arg[len(keyword) + 1 :].lstrip()
    if not rest.startswith("<"):
        return None
    end = rest.find(">")
    if end < 0:
        return None
    return rest[1:end], rest[end + 1 :].split()


class Closed(Exception):
    pass


class Peer:
    def __init__(self, args):
        self.args = args
        self.next_conn = 0
        self.deferred = {}  # defer-then-accept: recipient (lower case) -> RCPTs answered 451
        self.ssl_ctx = None
        if args.tls_cert:
            self.ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ssl_ctx.load_cert_chain(args.tls_cert, args.tls_key)
        self.reject = {a.lower() for a in args.reject_rcpt}
        self.tempfail = {a.lower() for a in args.tempfail_rcpt}

    async def handle(self, reader, writer):
        self.next_conn += 1
        s = Session(self, self.next_conn, reader, writer)
        try:
            await s.run()
        except (Closed, ConnectionError, asyncio.TimeoutError, ssl.SSLError, OSError):
            pass
        finally:
            s.finish()


class Session:
    def __init__(self, peer, conn, reader, writer):
        self.peer = peer
        self.args = peer.args
        self.conn = conn
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.ehlo = None
        self.tls = False
        self.quit = False
        self.closed_by = "client"
        self.messages = 0
        self.transactions = 0
        self.txn = None
        self.done = False
        pn = writer.get_extra_info("peername") or ("?", 0)
        emit(event="connect", conn=conn, peer=[pn[0], pn[1]])

    # --- I/O -------------------------------------------------------------------------------
    async def fill(self):
        data = await asyncio.wait_for(self.reader.read(65536), IDLE_TIMEOUT)
        if not data:
            raise Closed()
        self.buf += data

    async def readline(self):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[: nl + 1])
                del self.buf[: nl + 1]
                return line
            if len(self.buf) > MAX_LINE:
                raise Closed()
            await self.fill()

    async def reply(self, text, command=None):
        """Sends a reply. Bytes the client sent before it could see this reply mean that it
        pipelined `command`."""
        if command and self.buf:
            emit(event="pipelined", conn=self.conn, command=command)
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()

    def close(self):
        self.closed_by = "server"
        raise Closed()

    def finish(self):
        if self.done:
            return
        self.done = True
        if self.txn is not None:
            self.end_txn("client-closed" if self.closed_by == "client" else "server-closed")
        emit(event="close", conn=self.conn, by=self.closed_by, quit=self.quit,
             messages=self.messages, transactions=self.transactions)
        try:
            self.writer.close()
        except Exception:
            pass

    # --- transactions ----------------------------------------------------------------------
    def end_txn(self, outcome, data=None, reply=None):
        t = self.txn
        self.txn = None
        self.transactions += 1
        if outcome == "accepted":
            self.messages += 1
        emit(event="txn", conn=self.conn, index=self.transactions, mailFrom=t["mailFrom"],
             mailParams=t["mailParams"], rcpts=t["rcpts"],
             rcptTo=[r["addr"] for r in t["rcpts"] if r["reply"].startswith("2")],
             outcome=outcome, reply=reply,
             data=None if data is None else base64.b64encode(data).decode(),
             tls=self.tls, ehlo=self.ehlo)

    def rcpt_reply(self, addr):
        mode = self.args.mode
        key = addr.lower()
        if key in self.peer.reject:
            return f"550 5.1.1 <{addr}>: Recipient address rejected: User unknown"
        if key in self.peer.tempfail:
            return f"451 4.3.0 <{addr}>: Temporary failure, try again later"
        if self.args.max_rcpts and sum(1 for r in self.txn["rcpts"] if r["reply"][0] == "2") >= self.args.max_rcpts:
            return "452 4.5.3 Too many recipients"
        if mode == "tempfail-rcpt":
            return f"451 4.3.0 <{addr}>: Temporary failure, try again later"
        if mode == "reject-rcpt-550":
            return f"550 5.1.1 <{addr}>: Recipient address rejected: User unknown"
        if mode == "defer-then-accept":
            n = self.peer.deferred.get(key, 0)
            if n < self.args.defer_times:
                self.peer.deferred[key] = n + 1
                return f"451 4.7.1 <{addr}>: Greylisted, try again later"
        return "250 2.1.5 Ok"

    # --- protocol --------------------------------------------------------------------------
    async def run(self):
        mode = self.args.mode
        if self.args.greeting_delay_ms:
            await asyncio.sleep(self.args.greeting_delay_ms / 1000)
        if mode == "greeting-421":
            await self.reply(f"421 4.3.2 {self.args.hostname} Service not available")
            self.close()
        await self.reply(f"220 {self.args.hostname} ESMTP mailplane test peer")
        while True:
            raw = await self.readline()
            line = raw.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            arg = arg.strip()
            if verb in ("EHLO", "HELO"):
                await self.cmd_ehlo(verb, arg)
            elif verb == "STARTTLS":
                await self.cmd_starttls()
            elif verb == "MAIL":
                await self.cmd_mail(arg)
            elif verb == "RCPT":
                await self.cmd_rcpt(arg)
            elif verb == "DATA":
                await self.cmd_data()
            elif verb == "RSET":
                if self.txn is not None:
                    self.end_txn("rset")
                await self.reply("250 2.0.0 Ok", verb)
            elif verb == "NOOP":
                await self.reply("250 2.0.0 Ok", verb)
            elif verb == "VRFY":
                await self.reply("252 2.0.0 Cannot VRFY user", verb)
            elif verb == "QUIT":
                self.quit = True
                if self.txn is not None:
                    self.end_txn("quit")
                await self.reply("221 2.0.0 Bye")
                self.close()
            else:
                await self.reply("500 5.5.2 Error: command not recognized", verb or None)

    async def cmd_ehlo(self, verb, name):
        if not name:
            await self.reply(f"501 5.5.4 Syntax: {verb} hostname", verb)
            return
        if self.txn is not None:
            self.end_txn("rset")
        self.ehlo = name
        emit(event="ehlo", conn=self.conn, verb=verb, name=name)
        if verb == "HELO":
            await self.reply(f"250 {self.args.hostname}", verb)
            return
        ext = ["SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"]
        if self.args.mode != "no-pipelining":
            ext.insert(0, "PIPELINING")
        if (self.peer.ssl_ctx or self.args.mode == "broken-starttls") and not self.tls:
            ext.append("STARTTLS")
        lines = [self.args.hostname] + ext
        text = "\r\n".join(f"250-{l}" for l in lines[:-1]) + f"\r\n250 {lines[-1]}"
        await self.reply(text, verb)

    async def cmd_starttls(self):
        if self.args.mode == "broken-starttls":
            # Offers STARTTLS, says yes, then answers the TLS ClientHello with plain text: the
            # client's handshake fails (a broken TLS stack on the server, as seen in the wild).
            await self.reply("220 2.0.0 Ready to start TLS")
            emit(event="starttls", conn=self.conn, version=None, cipher=None, injected=False,
                 broken=True)
            self.writer.write(b"this is not TLS\r\n")
            await self.writer.drain()
            self.writer.close()
            raise ConnectionResetError("broken-starttls")
        if not self.peer.ssl_ctx:
            await self.reply("502 5.5.1 Error: command not implemented", "STARTTLS")
            return
        if self.tls:
            await self.reply("503 5.5.1 Error: TLS already active", "STARTTLS")
            return
        # Plain text after STARTTLS (command injection) is discarded, as RFC 3207 requires.
        injected = bool(self.buf)
        self.buf.clear()
        await self.reply("220 2.0.0 Ready to start TLS")
        await self.writer.start_tls(self.peer.ssl_ctx)
        self.tls = True
        self.ehlo = None
        if self.txn is not None:
            self.txn = None
        obj = self.writer.get_extra_info("ssl_object")
        emit(event="starttls", conn=self.conn, version=obj.version() if obj else None,
             cipher=obj.cipher()[0] if obj else None, injected=injected)

    async def cmd_mail(self, arg):
        if self.ehlo is None:
            await self.reply("503 5.5.1 Error: send HELO/EHLO first", "MAIL")
            return
        if self.txn is not None:
            await self.reply("503 5.5.1 Error: nested MAIL command", "MAIL")
            return
        p = parse_path(arg, "FROM")
        if p is None:
            await self.reply("501 5.5.4 Syntax: MAIL FROM:<address>", "MAIL")
            return
        self.txn = {"mailFrom": p[0], "mailParams": p[1], "rcpts": []}
        if self.args.mode == "disconnect-at-mail":
            self.end_txn("disconnected-at-mail")
            self.close()
        await self.reply("250 2.1.0 Ok", "MAIL")

    async def cmd_rcpt(self, arg):
        if self.txn is None:
            await self.reply("503 5.5.1 Error: need MAIL command", "RCPT")
            return
        p = parse_path(arg, "TO")
        if p is None:
            await self.reply("501 5.5.4 Syntax: RCPT TO:<address>", "RCPT")
            return
        r = self.rcpt_reply(p[0])
        self.txn["rcpts"].append({"addr": p[0], "params": p[1], "reply": r})
        await self.reply(r, "RCPT")

    async def cmd_data(self):
        mode = self.args.mode
        if self.txn is None:
            await self.reply("503 5.5.1 Error: need RCPT command", "DATA")
            return
        if not any(r["reply"].startswith("2") for r in self.txn["rcpts"]):
            self.end_txn("no-valid-rcpt", reply="554 5.5.1 Error: no valid recipients")
            await self.reply("554 5.5.1 Error: no valid recipients", "DATA")
            return
        if mode == "disconnect-at-data-cmd":
            self.end_txn("disconnected-at-data-cmd")
            self.close()
        await self.reply("354 End data with <CR><LF>.<CR><LF>", "DATA")
        body = bytearray()
        while True:
            line = await self.readline()
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]
            body += line
        data = bytes(body)
        if mode == "disconnect-at-data":
            self.end_txn("disconnected-at-data", data)
            self.close()
        if mode == "tempfail-data":
            r = "451 4.3.0 Error: queue file write error"
            self.end_txn("tempfail-data", data, r)
        elif mode == "reject-data":
            r = "554 5.7.1 Error: message content rejected"
            self.end_txn("rejected-data", data, r)
        else:
            r = f"250 2.0.0 Ok: queued as C{self.conn}T{self.transactions + 1}"
            self.end_txn("accepted", data, r)
        await self.reply(r, "DATA-END")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ip", default="127.0.0.4")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="accept", choices=MODES)
    ap.add_argument("--defer-times", type=int, default=1)
    ap.add_argument("--hostname", default="peer.test")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--reject-rcpt", action="append", default=[])
    ap.add_argument("--tempfail-rcpt", action="append", default=[])
    ap.add_argument("--max-rcpts", type=int, default=0)
    ap.add_argument("--greeting-delay-ms", type=int, default=0)
    args = ap.parse_args()
    peer = Peer(args)
    try:
        server = await asyncio.start_server(peer.handle, host=args.ip, port=args.port,
                                            reuse_address=True, backlog=128)
    except OSError as e:
        print(f"smtp_peer.py: cannot listen on {args.ip}:{args.port}: {e.strerror}", file=sys.stderr)
        sys.exit(2)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    emit(event="ready", ip=args.ip, port=port, mode=args.mode, tls=bool(peer.ssl_ctx))
    async with server:
        await stop.wait()
    server.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
