"""A HIS/LIS peer that receives what ihos sends: Debian's python3-hl7 MLLP
server (hl7.mllp.start_hl7_server) on 127.0.0.1, in a thread of its own.

Every message is parsed with python3-hl7 and kept (in arrival order) with its
MSH-10; the answer is the ACK python3-hl7 builds (Message.create_ack) with
the code `decide(message)` returns (default AA).  `hold` makes the peer read
a message and never answer it (a peer that hangs after receiving).  stop()
closes the server and every connection; start() again on the same port is
the peer coming back."""
import asyncio
import socket
import threading

import hl7
import hl7.mllp


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class HisPeer:
    def __init__(self, port=None, encoding="utf-8", decide=None, ssl_context=None):
        self.port = port or free_port()
        self.ssl_context = ssl_context  # MLLP inside TLS when given
        self.peer_certs = []  # what each TLS client presented (DER), in order
        self.encoding = encoding
        self.decide = decide or (lambda m: "AA")
        self.received = []  # (control id, hl7.Message)
        self.hold = False
        self.lock = threading.Lock()
        self.loop = None
        self.thread = None
        self.server = None
        self.writers = set()

    def start(self):
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def handle(reader, writer):
            self.writers.add(writer)
            sslobj = writer.get_extra_info("ssl_object")
            if sslobj is not None:
                with self.lock:
                    self.peer_certs.append(sslobj.getpeercert(binary_form=True))
            try:
                while not writer.is_closing():
                    msg = await reader.readmessage()
                    with self.lock:
                        self.received.append((str(msg.segment("MSH")[10]), msg))
                        hold = self.hold
                    if hold:
                        continue
                    writer.writemessage(msg.create_ack(ack_code=self.decide(msg), application="HIS",
                                                       facility="HOSP"))
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
                pass
            finally:
                self.writers.discard(writer)
                writer.close()

        async def main():
            self.server = await hl7.mllp.start_hl7_server(handle, "127.0.0.1", self.port, encoding=self.encoding,
                                                          ssl=self.ssl_context)
            ready.set()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(main())
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise AssertionError("the HL7 peer did not start")
        return self

    def stop(self):
        if not self.loop:
            return

        async def close():
            self.server.close()
            for w in list(self.writers):
                w.close()
            await asyncio.sleep(0.05)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.loop = None

    def messages(self):
        with self.lock:
            return list(self.received)
