@backup
Feature: Backups
  The database is backed up often enough for the promised RPO.

  @offline @modeled @critical
  Scenario: the backup schedule meets an RPO of 1 hour
    Source: Kubernetes Architecture - TByte Microservices Platform § Resource Optimization
    Given the backup CronJob
    Then the worst-case loss is within 1 hour

  @offline @declared
  Scenario: a broken step is a framework error
    Source: Kubernetes Architecture - TByte Microservices Platform § Deployment Strategies › Rolling Deployment (Current)
    Given the backup CronJob
    Then the framework breaks

  @offline @declared @minor
  Scenario: credentials stay out of the report
    Source: Kubernetes Architecture - TByte Microservices Platform § Secrets Management Architecture
    Given a generated database Secret
    Then the Secret, its connection URL and a log line are attached
