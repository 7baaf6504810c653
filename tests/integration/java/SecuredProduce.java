// A producer nobody on this project wrote (Apache Kafka's Java client, from the project's own jars),
// run as a single-file source program: java -cp <kafka jars> SecuredProduce.java BOOTSTRAP TOPIC CA_PEM COUNT
// SCRAM-SHA-512 over SASL_SSL; the user name and password come from the environment, like cxpulse's.
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class SecuredProduce {
    public static void main(String[] args) throws Exception {
        String user = System.getenv("CXPULSE_KAFKA_SASL_USERNAME");
        String password = System.getenv("CXPULSE_KAFKA_SASL_PASSWORD");
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("security.protocol", "SASL_SSL");
        props.put("sasl.mechanism", "SCRAM-SHA-512");
        props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + user + "\" password=\"" + password + "\";");
        props.put("ssl.truststore.type", "PEM");
        props.put("ssl.truststore.location", args[2]);  // host name verification stays on (the default)
        props.put("acks", "all");
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        int count = Integer.parseInt(args[3]);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(args[1], "k" + i, "java-" + i)).get();
            }
        }
        System.out.println("sent " + count);
    }
}
