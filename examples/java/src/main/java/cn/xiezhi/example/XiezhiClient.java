package cn.xiezhi.example;

import cn.xiezhi.v1.Ack;
import cn.xiezhi.v1.AcknowledgeRequest;
import cn.xiezhi.v1.AcknowledgeResponse;
import cn.xiezhi.v1.CaseOutcome;
import cn.xiezhi.v1.Delivery;
import cn.xiezhi.v1.InboxGrpc;
import cn.xiezhi.v1.Lead;
import cn.xiezhi.v1.PublishLeadRequest;
import cn.xiezhi.v1.PublishOutcomeRequest;
import cn.xiezhi.v1.PublisherGrpc;
import cn.xiezhi.v1.SubscribeRequest;
import com.google.protobuf.Timestamp;
import com.google.rpc.BadRequest;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.protobuf.StatusProto;
import java.io.File;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One agency's connection to a Xiezhi broker, over mutual TLS with the agency's certificate (as
 * {@code xiezhi certs dev} makes them). Copy it into your case system: publish leads and outcomes,
 * read the inbox, acknowledge, resume after the acknowledged cursor, and read the field violations
 * of a refused publish. The producer and the inbox's agency are left empty: the broker takes them
 * from the certificate.
 */
public final class XiezhiClient implements AutoCloseable {
  private final ManagedChannel channel;
  private final PublisherGrpc.PublisherBlockingStub publisher;
  private final InboxGrpc.InboxBlockingStub inbox;

  /** A publish the broker refused, with each bad field and the rule it broke. */
  public static final class Refused extends Exception {
    public final Status.Code code;
    public final List<String[]> violations = new ArrayList<>();

    Refused(StatusRuntimeException error) {
      super(error.getStatus().getCode() + ": " + error.getStatus().getDescription());
      code = error.getStatus().getCode();
      com.google.rpc.Status status = StatusProto.fromThrowable(error);
      if (status == null) {
        return;
      }
      for (com.google.protobuf.Any detail : status.getDetailsList()) {
        if (detail.is(BadRequest.class)) {
          try {
            for (BadRequest.FieldViolation v : detail.unpack(BadRequest.class).getFieldViolationsList()) {
              violations.add(new String[] {v.getField(), v.getDescription()});
            }
          } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            // A detail that does not unpack is not a field violation.
          }
        }
      }
    }
  }

  public XiezhiClient(String target, File ca, File cert, File key) throws IOException {
    ChannelCredentials credentials =
        TlsChannelCredentials.newBuilder().trustManager(ca).keyManager(cert, key).build();
    channel = Grpc.newChannelBuilder(target, credentials).build();
    publisher = PublisherGrpc.newBlockingStub(channel);
    inbox = InboxGrpc.newBlockingStub(channel);
  }

  /** Now, as a protobuf timestamp (UTC). */
  public static Timestamp now() {
    Instant now = Instant.now();
    return Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()).build();
  }

  /** Publishes a lead; returns the Ack once it is durable. Idempotent by {@code eventId}. */
  public Ack publishLead(String eventId, Lead lead) throws Refused {
    try {
      return publisher.withDeadlineAfter(30, TimeUnit.SECONDS).publishLead(
          PublishLeadRequest.newBuilder().setEventId(eventId).setLead(lead).setProducedAt(now()).build());
    } catch (StatusRuntimeException e) {
      throw refusedOrRethrow(e);
    }
  }

  /** Publishes a case outcome; returns the Ack. */
  public Ack publishOutcome(String eventId, CaseOutcome outcome) throws Refused {
    try {
      return publisher.withDeadlineAfter(30, TimeUnit.SECONDS).publishOutcome(
          PublishOutcomeRequest.newBuilder().setEventId(eventId).setOutcome(outcome).setProducedAt(now()).build());
    } catch (StatusRuntimeException e) {
      throw refusedOrRethrow(e);
    }
  }

  private static Refused refusedOrRethrow(StatusRuntimeException e) {
    switch (e.getStatus().getCode()) {
      case INVALID_ARGUMENT, ALREADY_EXISTS, PERMISSION_DENIED -> {
        return new Refused(e);
      }
      default -> throw e;
    }
  }

  /**
   * The inbox after {@code fromCursor} (null: after the acknowledged cursor) as delivered within
   * {@code windowMillis}. The stream stays open for live deliveries; a real consumer keeps
   * reading it, acknowledges what it processed, and after a restart subscribes without a cursor.
   */
  public List<Delivery> deliveries(Long fromCursor, long windowMillis) {
    SubscribeRequest.Builder request = SubscribeRequest.newBuilder();
    if (fromCursor != null) {
      request.setFromCursor(fromCursor);
    }
    List<Delivery> out = new ArrayList<>();
    try {
      Iterator<Delivery> stream =
          inbox.withDeadlineAfter(windowMillis, TimeUnit.MILLISECONDS).subscribe(request.build());
      while (stream.hasNext()) {
        out.add(stream.next());
      }
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.DEADLINE_EXCEEDED) {
        throw e;
      }
    }
    return out;
  }

  /** Records that the agency processed its inbox up to {@code cursor}. */
  public AcknowledgeResponse acknowledge(long cursor) {
    return inbox.withDeadlineAfter(10, TimeUnit.SECONDS)
        .acknowledge(AcknowledgeRequest.newBuilder().setCursor(cursor).build());
  }

  @Override
  public void close() throws InterruptedException {
    channel.shutdown().awaitTermination(5, TimeUnit.SECONDS);
  }
}
