@disaster_recovery
Feature: ITDO ERP disaster recovery
  At most 1 hour of data may be lost and at most 4 hours of downtime; backups are daily; pod
  security baselines are enforced.

  Background:
    Given the system "itdo_erp"

  @offline @declared @critical @backup @known_gap @gap:itdo-daily-backups-versus-rpo-1h
  Scenario: The database is backed up continuously enough for a 1 hour RPO
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Operational Considerations › Disaster Recovery
    Given the system "itdo_erp" with its custom resources
    Then the Cluster "itdo-erp-prod/postgres-cluster" sets spec.backup.barmanObjectStore

  @live @observed @destructive @serial @backup @critical @slow @known_gap @gap:itdo-daily-backups-versus-rpo-1h
  Scenario: After a disaster at most 1 hour of data is lost
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Operational Considerations › Disaster Recovery
    Given the system is deployed
    When the backup experiment runs against the StatefulSet "itdo-erp-prod/postgres-cluster"
    Then the data lost in the restore is at most 1h

  @live @observed @destructive @serial @backup @critical @slow @known_gap @gap:itdo-no-database-backup-deployed
  Scenario: After a disaster the database is back within 4 hours
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Operational Considerations › Disaster Recovery
    Given the system is deployed
    When the backup experiment runs against the StatefulSet "itdo-erp-prod/postgres-cluster"
    Then the restore completes within 4h
    And every row written before the last backup is restored
