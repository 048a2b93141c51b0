@storage
Feature: TByte database storage
  PostgreSQL runs as a 1-replica StatefulSet on an EBS gp3 volume.

  Background:
    Given the system "tbyte"

  @offline @declared @normal
  Scenario: PostgreSQL is a single-replica StatefulSet with a gp3 volume
    Source: Kubernetes Architecture - TByte Microservices Platform § Application Architecture
    Then the StatefulSet "tbyte/postgres" declares:
      | field                                                | value |
      | spec.replicas                                        | 1     |
      | spec.volumeClaimTemplates[0].spec.storageClassName   | gp3   |
    And the Service "tbyte/postgres" declares spec.type = ClusterIP

  @live @observed @destructive @normal
  Scenario: PostgreSQL keeps its data on its own volume across a pod restart on a live cluster
    Source: Kubernetes Architecture - TByte Microservices Platform § Application Architecture
    Given the system is deployed
    Then the pods of the StatefulSet "tbyte/postgres" keep their own data across a pod restart
