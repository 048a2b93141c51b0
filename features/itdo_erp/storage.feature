@storage
Feature: ITDO ERP data layer
  PostgreSQL runs as a 3-instance CloudNativePG cluster on 100Gi fast-ssd with max_connections 200;
  Redis as 3 masters with 1 replica each on 10Gi fast-ssd.

  Background:
    Given the system "itdo_erp"

  @offline @declared @critical
  Scenario: The PostgreSQL cluster has 3 instances on 100Gi fast-ssd volumes
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Data Layer Architecture › PostgreSQL Cluster
    Given the system "itdo_erp" with its custom resources
    Then the Cluster "itdo-erp-prod/postgres-cluster" declares:
      | field                                            | value                |
      | spec.instances                                   | 3                    |
      | spec.storage.size                                | 100Gi                |
      | spec.storage.storageClass                        | fast-ssd             |
      | spec.postgresql.parameters.max_connections       | "200"                |
      | spec.bootstrap.initdb.database                   | itdo_erp             |
      | spec.bootstrap.initdb.secret.name                | postgres-credentials |
    And the Secret "itdo-erp-prod/postgres-credentials" exists

  @offline @declared @critical @known_gap @gap:itdo-postgres-instances-refused-by-quota
  Scenario: The PostgreSQL instances are admitted by the production quota
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Data Layer Architecture › PostgreSQL Cluster
    Given the system "itdo_erp" with its custom resources
    Then the Cluster "itdo-erp-prod/postgres-cluster" sets spec.resources.limits.cpu
    And the Cluster "itdo-erp-prod/postgres-cluster" sets spec.resources.limits.memory

  @offline @declared @normal
  Scenario: Redis runs 3 masters with 1 replica each on 10Gi fast-ssd volumes
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Data Layer Architecture › Redis Cluster
    Given the system "itdo_erp" with its custom resources
    Then the RedisCluster "itdo-erp-prod/redis-cluster" declares:
      | field                            | value          |
      | spec.masters                     | 3              |
      | spec.replicas                    | 1              |
      | spec.redis.image                 | redis:7-alpine |
      | spec.storage.size                | 10Gi           |
      | spec.storage.storageClass        | fast-ssd       |
      | spec.redis.resources.requests.cpu | 100m          |
      | spec.redis.resources.limits.memory | 1Gi          |

  @live @observed @normal
  Scenario: Each PostgreSQL instance gets its own 100Gi fast-ssd volume on a live cluster
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Data Layer Architecture › PostgreSQL Cluster
    Given the system is deployed
    Then every pod of the StatefulSet "itdo-erp-prod/postgres-cluster" has its own volume bound with 100Gi ReadWriteOnce on the "fast-ssd" storage class

  @live @observed @destructive @normal
  Scenario: A PostgreSQL instance keeps its data across a pod restart on a live cluster
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Data Layer Architecture › PostgreSQL Cluster
    Given the system is deployed
    Then the pods of the StatefulSet "itdo-erp-prod/postgres-cluster" keep their own data across a pod restart
