@disaster_recovery
Feature: CSA Hello disaster recovery
  Persistent data is backed up automatically, and workloads are spread across availability zones.

  Background:
    Given the system "csa_hello"

  @offline @modeled @backup @critical
  Scenario: The shared PostgreSQL is backed up by a scheduled job
    Source: Kubernetes Architecture for CSA Hello § Disaster Recovery Plan
    Then the CronJob "storage-system/postgres-backup" sets spec.schedule
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the CronJob "storage-system/postgres-backup" refers to exists
    And a failed dump makes the backup job of the CronJob "storage-system/postgres-backup" fail

  @offline @declared @normal
  Scenario: Messenger and PostgreSQL pods are spread across availability zones
    Source: Kubernetes Architecture for CSA Hello § Disaster Recovery Plan
    Then the Deployment "messenger-system/messenger-service" declares spec.template.spec.topologySpreadConstraints[0].topologyKey = topology.kubernetes.io/zone
    And the StatefulSet "storage-system/postgres" declares spec.template.spec.topologySpreadConstraints[0].topologyKey = topology.kubernetes.io/zone

  @live @observed @backup @destructive @serial @critical @slow
  Scenario: A restore from the latest backup brings back every row written before it
    Source: Kubernetes Architecture for CSA Hello § Disaster Recovery Plan
    Given the system is deployed
    When the backup experiment runs against the StatefulSet "storage-system/postgres" with the CronJob "storage-system/postgres-backup"
    Then every row written before the last backup is restored
