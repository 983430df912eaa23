"""A small client for Xiezhi (獬豸) an agency's Python team can copy: mutual TLS with the agency's
certificate, publishing leads and outcomes (one by one or on a stream), the inbox with resume from
the acknowledged cursor, and the field violations of a refused publish. Stubs come from
generate.py (gen/)."""
import pathlib
import sys

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "gen"))

from xiezhi.v1 import services_pb2, services_pb2_grpc  # noqa: E402


class Refused(Exception):
    """A publish the broker refused; `violations` lists (field, rule and description)."""

    def __init__(self, error: grpc.RpcError):
        self.code = error.code()
        self.message = error.details()
        self.violations = []
        status = rpc_status.from_call(error)
        for detail in status.details if status else []:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                self.violations = [(v.field, v.description) for v in bad.field_violations]
        super().__init__(f"{self.code.name}: {self.message}")


class XiezhiClient:
    """One agency's connection to a broker."""

    def __init__(self, target: str, ca: str, cert: str, key: str):
        read = lambda path: pathlib.Path(path).read_bytes()  # noqa: E731
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read(ca), private_key=read(key), certificate_chain=read(cert))
        self.channel = grpc.secure_channel(target, credentials)
        self.publisher = services_pb2_grpc.PublisherStub(self.channel)
        self.inbox = services_pb2_grpc.InboxStub(self.channel)

    def close(self):
        self.channel.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=30)
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS,
                                grpc.StatusCode.PERMISSION_DENIED):
                raise Refused(error) from None
            raise

    def publish_lead(self, event_id, lead, produced_at):
        """Publishes a lead; returns the Ack once it is durable. The producer is the
        certificate's agency."""
        return self._call(self.publisher.PublishLead, services_pb2.PublishLeadRequest(
            event_id=event_id, lead=lead, produced_at=produced_at))

    def publish_outcome(self, event_id, outcome, produced_at):
        """Publishes a case outcome; returns the Ack."""
        return self._call(self.publisher.PublishOutcome, services_pb2.PublishOutcomeRequest(
            event_id=event_id, outcome=outcome, produced_at=produced_at))

    def publish_stream(self, requests):
        """Publishes many leads and outcomes over one call; yields each answer in order."""
        return self.publisher.PublishStream(iter(requests), timeout=60)

    def deliveries(self, from_cursor=None, window=3.0):
        """The inbox after `from_cursor` (None: after the acknowledged cursor) as delivered within
        `window` seconds. The stream stays open for live deliveries; a real consumer keeps
        iterating it, and reconnects with from_cursor=None to resume where it acknowledged."""
        request = services_pb2.SubscribeRequest()
        if from_cursor is not None:
            request.from_cursor = from_cursor
        out = []
        try:
            for delivery in self.inbox.Subscribe(request, timeout=window):
                out.append(delivery)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
        return out

    def acknowledge(self, cursor):
        """Records that the agency has processed its inbox up to `cursor`."""
        return self.inbox.Acknowledge(services_pb2.AcknowledgeRequest(cursor=cursor), timeout=10)
