package cn.xiezhi.example;

import cn.xiezhi.v1.Ack;
import cn.xiezhi.v1.CaseOutcome;
import cn.xiezhi.v1.Decision;
import cn.xiezhi.v1.Delivery;
import cn.xiezhi.v1.Domain;
import cn.xiezhi.v1.Lead;
import cn.xiezhi.v1.Sensitivity;
import cn.xiezhi.v1.Subject;
import cn.xiezhi.v1.SubjectKind;
import java.io.File;
import java.util.List;
import java.util.stream.Collectors;

/**
 * An agency's flow, one JSON line per step: publish a lead and an outcome, read the inbox,
 * acknowledge, reconnect and resume after the acknowledged cursor, and print the field violations
 * of a refused publish.
 *
 * <pre>java -jar target/xiezhi-example-java.jar 127.0.0.1:50051 ca.pem 330106-SCJG.pem 330106-SCJG-key.pem run1</pre>
 */
public final class Flow {
  private static final Subject SUBJECT = Subject.newBuilder()
      .setKind(SubjectKind.SUBJECT_KIND_ORGANIZATION)
      .setId("91330106MA2H0Q7W1G")
      .setName("杭州某某食品有限公司")
      .build();

  private static Lead lead(Subject subject, String summary) {
    return Lead.newBuilder().setSubject(subject).setDivision("330106")
        .setDomain(Domain.DOMAIN_ECOLOGY_ENVIRONMENT).setOffenceCode("CL-338")
        .setSummary(summary).setSensitivity(Sensitivity.SENSITIVITY_INTERNAL).build();
  }

  private static String cursors(List<Delivery> deliveries) {
    return deliveries.stream().map(d -> Long.toString(d.getCursor())).collect(Collectors.joining(",", "[", "]"));
  }

  private static String quote(String text) {
    return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 5) {
      System.err.println("usage: Flow <host:port> <ca.pem> <agency.pem> <agency-key.pem> <run>");
      System.exit(2);
    }
    File ca = new File(args[1]), cert = new File(args[2]), key = new File(args[3]);
    String run = args[4];
    try (XiezhiClient client = new XiezhiClient(args[0], ca, cert, key)) {
      Ack ack = client.publishLead("java-" + run + "-lead", lead(SUBJECT, "夜间偷排含铅废水"));
      System.out.printf("{\"step\": \"lead\", \"event_id\": %s, \"signed\": %b}%n",
          quote(ack.getEventId()), ack.getReceipt().getSignature().size() == 64);
      CaseOutcome outcome = CaseOutcome.newBuilder().setCaseNumber("杭西市监罚〔2026〕java" + run + "号")
          .setSubject(SUBJECT).setDivision("330106").setDomain(Domain.DOMAIN_MARKET_REGULATION)
          .setOffenceCode("CL-140").setDecision(Decision.DECISION_PENALTY).setFineFen(500_000)
          .setDecidedAt(XiezhiClient.now()).setSensitivity(Sensitivity.SENSITIVITY_INTERNAL).build();
      ack = client.publishOutcome("java-" + run + "-outcome", outcome);
      System.out.printf("{\"step\": \"outcome\", \"event_id\": %s}%n", quote(ack.getEventId()));
      List<Delivery> first = client.deliveries(0L, 3000);
      System.out.printf("{\"step\": \"inbox\", \"cursors\": %s}%n", cursors(first));
      if (!first.isEmpty()) {
        client.acknowledge(first.get(0).getCursor());
        System.out.printf("{\"step\": \"acknowledged\", \"cursor\": %d}%n", first.get(0).getCursor());
      }
    }
    // A new connection, as after a restart: it resumes after the acknowledged cursor.
    try (XiezhiClient client = new XiezhiClient(args[0], ca, cert, key)) {
      System.out.printf("{\"step\": \"resumed\", \"cursors\": %s}%n", cursors(client.deliveries(null, 3000)));
      Subject bad = SUBJECT.toBuilder().setId("91330106MA2H0Q7W1A").build();
      try {
        client.publishLead("java-" + run + "-bad", lead(bad, "统一社会信用代码校验位错误"));
        System.out.println("{\"step\": \"refused\", \"violations\": []}");
      } catch (XiezhiClient.Refused refused) {
        String violations = refused.violations.stream()
            .map(v -> "[" + quote(v[0]) + ", " + quote(v[1]) + "]")
            .collect(Collectors.joining(", ", "[", "]"));
        System.out.printf("{\"step\": \"refused\", \"code\": %s, \"violations\": %s}%n",
            quote(refused.code.name()), violations);
      }
    }
  }
}
