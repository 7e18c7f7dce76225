-- Debezium MySQL change events for inventory.customers, AVRO written by
-- confluent-kafka's AvroSerializer (tests/clients/confluent_avro.py); the
-- columns come from the subject the serializer registered.
CREATE STREAM customers WITH (kafka_topic='inventory.inventory.customers', value_format='AVRO');
CREATE STREAM customer_emails WITH (kafka_topic='customer_emails', value_format='JSON') AS
  SELECT after->id AS id, after->email AS email, op FROM customers WHERE after IS NOT NULL;
CREATE STREAM customer_names WITH (kafka_topic='customer_names', value_format='AVRO') AS
  SELECT after->id AS id, after->first_name AS first_name, after->last_name AS last_name,
         source->snapshot AS snapshot
  FROM customers WHERE after IS NOT NULL;
