// Creates topics and ACLs on a secured Kafka in one admin session (one JVM start instead of one
// per kafka-acls call). Run by `kafka.sh grant` as a single-file Java program:
//
//   java -cp 'libs/*' Grant.java ADMIN.properties ITEM...
//
//   topic:NAME:PARTITIONS:REPLICATION:MIN_ISR[:MAX_MESSAGE_BYTES]
//                                                create NAME (kept forever) unless it exists
//   allow:PRINCIPAL:TYPE:NAME:OP[,OP...]         allow PRINCIPAL (e.g. gateway) OPs (e.g. WRITE)
//                                                on the TOPIC, GROUP or CLUSTER named NAME
//
// Existing topics and ACLs are left as they are, so granting again is harmless.

import java.io.FileReader;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Grant {
    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: Grant ADMIN.properties topic:NAME:P:R:ISR | allow:WHO:TYPE:NAME:OPS ...");
            System.exit(2);
        }
        Properties props = new Properties();
        try (FileReader reader = new FileReader(args[0])) {
            props.load(reader);
        }
        List<NewTopic> topics = new ArrayList<>();
        List<AclBinding> acls = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            String[] f = args[i].split(":");
            if (f[0].equals("topic") && (f.length == 5 || f.length == 6)) {
                Map<String, String> configs = new HashMap<>(Map.of("retention.ms", "-1",
                        "retention.bytes", "-1", "cleanup.policy", "delete", "min.insync.replicas", f[4]));
                if (f.length == 6) {
                    configs.put("max.message.bytes", f[5]);
                }
                topics.add(new NewTopic(f[1], Integer.parseInt(f[2]), Short.parseShort(f[3]))
                        .configs(configs));
            } else if (f[0].equals("allow") && f.length == 5) {
                ResourcePattern resource = new ResourcePattern(
                        ResourceType.fromString(f[2]), f[3], PatternType.LITERAL);
                for (String op : f[4].split(",")) {
                    acls.add(new AclBinding(resource, new AccessControlEntry(
                            "User:" + f[1], "*", AclOperation.fromString(op), AclPermissionType.ALLOW)));
                }
            } else {
                System.err.println("Grant: cannot read '" + args[i] + "'");
                System.exit(2);
            }
        }
        try (Admin admin = Admin.create(props)) {
            for (var entry : admin.createTopics(topics).values().entrySet()) {
                try {
                    entry.getValue().get();
                    System.err.println("Grant: created topic " + entry.getKey());
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
            admin.createAcls(acls).all().get();
            System.err.println("Grant: " + acls.size() + " ACL entries in place");
        }
    }
}
