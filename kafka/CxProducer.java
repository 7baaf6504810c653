// The Java producer of the Kafka jars (kafka-clients KafkaProducer), driven from the integration tests
// (tests/integration/java_producer.py) and the codec benchmark (bench/codecs.py): a client cxpulse did
// not write, with the codecs and transactions real producers use.
// The jars of `make setup` hold no producer tool (kafka-tools is not a broker dependency), so this file
// is run by the JDK's source launcher (`java -cp <kafka-clients...> CxProducer.java ...`), nothing to build.
//
// usage: CxProducer BOOTSTRAP TOPIC PARTITION COMPRESSION TRANSACTIONAL_ID|- STEP...
//   STEP = send:FILE | commit:FILE | abort:FILE | hold:FILE
//   FILE holds one message per line: KEY<TAB>VALUE, any bytes but newline (read as ISO-8859-1, which maps
//   every byte to one char and back, so invalid UTF-8 reaches the topic unchanged).
//   send: plain sends (no transaction); commit / abort: one transaction, committed / aborted;
//   hold: one transaction left open (prints "open N"), committed when a line arrives on stdin.
// Prints "<step> <n>" after each step and "compression-rate-avg <r>" at the end (< 1: batches compressed).
// -Dcx.batch.size=BYTES sets batch.size (default 262144; Java counts it in estimated compressed bytes),
// -Dcx.linger.ms=MS linger.ms (default 100; a long one closes batches only when full or flushed).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class CxProducer {
    public static void main(String[] args) throws Exception {
        String topic = args[1];
        Integer partition = Integer.parseInt(args[2]) < 0 ? null : Integer.valueOf(args[2]);
        boolean transactional = !args[4].equals("-");
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("compression.type", args[3]);
        props.put("acks", "all");
        props.put("linger.ms", System.getProperty("cx.linger.ms", "100"));
        props.put("batch.size", System.getProperty("cx.batch.size", String.valueOf(256 * 1024)));
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());
        if (transactional) {
            props.put("transactional.id", args[4]);
        }
        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            if (transactional) {
                producer.initTransactions();
            }
            for (int i = 5; i < args.length; i++) {
                String step = args[i].substring(0, args[i].indexOf(':'));
                Path file = Path.of(args[i].substring(args[i].indexOf(':') + 1));
                if (!step.equals("send")) {
                    producer.beginTransaction();
                }
                int n = 0;
                for (String line : Files.readAllLines(file, StandardCharsets.ISO_8859_1)) {
                    int tab = line.indexOf('\t');
                    byte[] key = line.substring(0, tab).getBytes(StandardCharsets.ISO_8859_1);
                    byte[] value = line.substring(tab + 1).getBytes(StandardCharsets.ISO_8859_1);
                    producer.send(new ProducerRecord<>(topic, partition, key, value));
                    n++;
                }
                producer.flush();
                switch (step) {
                    case "send":
                        break;
                    case "commit":
                        producer.commitTransaction();
                        break;
                    case "abort":
                        producer.abortTransaction();
                        break;
                    case "hold":
                        System.out.println("open " + n);
                        System.out.flush();
                        stdin.readLine();
                        producer.commitTransaction();
                        break;
                    default:
                        throw new IllegalArgumentException("unknown step " + step);
                }
                System.out.println(step + " " + n);
                System.out.flush();
            }
            for (java.util.Map.Entry<MetricName, ? extends Metric> m : producer.metrics().entrySet()) {
                if (m.getKey().name().equals("compression-rate-avg") && m.getKey().group().equals("producer-metrics")) {
                    System.out.println("compression-rate-avg " + m.getValue().metricValue());
                }
            }
        }
    }
}
