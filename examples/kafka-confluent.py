#!/usr/bin/python3
# examples/kafka-confluent.py: confluent-kafka-python (librdkafka) against Spool's Kafka
# listener. It produces three keyed records with an idempotent producer, reads this run's
# records back as a member of consumer group "python-demo", commits them, and ends.
# Run it with `examples/kafka-confluent.py localhost:9092`
# (Debian: apt-get install python3-confluent-kafka).
import sys
import time
from confluent_kafka import Consumer, Producer

broker = sys.argv[1] if len(sys.argv) > 1 else 'localhost:9092'
run = str(int(time.time() * 1000))

producer = Producer({'bootstrap.servers': broker, 'enable.idempotence': True,
                     'partitioner': 'murmur2_random'})  # keys placed as Java, kafkajs and Spool's SDK
for word in ['alpha', 'beta', 'gamma']:
    producer.produce('python-demo', key=word, value=f'{word} {run}')
producer.flush(10)

consumer = Consumer({'bootstrap.servers': broker, 'group.id': 'python-demo',
                     'auto.offset.reset': 'earliest', 'enable.auto.commit': False})
consumer.subscribe(['python-demo'])
seen = set()
deadline = time.time() + 30
while len(seen) < 3 and time.time() < deadline:
    m = consumer.poll(0.5)
    if m is None or m.error():
        continue
    value = m.value().decode()
    if value.endswith(run):
        print(f'read {m.partition()}/{m.offset()} {m.key().decode()} = {value}')
        seen.add(value)
    consumer.commit(m, asynchronous=False)
consumer.close()
sys.exit(0 if len(seen) == 3 else 1)
