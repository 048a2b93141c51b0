@storage
Feature: CSA Hello persistent storage
  Document collaboration gets a shared 100Gi network volume; the shared PostgreSQL runs as a
  three-member StatefulSet with a 100Gi block volume per member.

  Background:
    Given the system "csa_hello"

  @offline @declared @normal
  Scenario: The docs module claims a 100Gi ReadWriteMany volume on managed NFS
    Source: Kubernetes Architecture for CSA Hello § Persistent Volume Configuration (For Storage-Intensive Services)
    Then the PersistentVolumeClaim "docs-system/docs-storage" declares:
      | field                            | value         |
      | spec.accessModes                 | ReadWriteMany |
      | spec.storageClassName            | managed-nfs   |
      | spec.resources.requests.storage  | 100Gi         |

  @offline @declared @critical
  Scenario: PostgreSQL runs as a three-member StatefulSet with a 100Gi fast volume per member
    Source: Kubernetes Architecture for CSA Hello § Stateful Set Example (For Databases)
    Then the StatefulSet "storage-system/postgres" declares:
      | field                                                                   | value           |
      | spec.serviceName                                                        | postgres        |
      | spec.replicas                                                           | 3               |
      | spec.volumeClaimTemplates[0].metadata.name                              | postgres-data   |
      | spec.volumeClaimTemplates[0].spec.accessModes                           | ReadWriteOnce   |
      | spec.volumeClaimTemplates[0].spec.storageClassName                      | fast-storage    |
      | spec.volumeClaimTemplates[0].spec.resources.requests.storage            | 100Gi           |
    And the container "postgres" of the StatefulSet "storage-system/postgres" declares volumeMounts[name=postgres-data].mountPath = /var/lib/postgresql/data
    And the container "postgres" of the StatefulSet "storage-system/postgres" declares ports[name=postgres].containerPort = 5432

  @offline @declared @normal
  Scenario: Each PostgreSQL member requests 1 CPU and 2Gi and is limited to 2 CPUs and 4Gi
    Source: Kubernetes Architecture for CSA Hello § Stateful Set Example (For Databases)
    Then the container "postgres" of the StatefulSet "storage-system/postgres" requests cpu 1 and memory 2Gi
    And the container "postgres" of the StatefulSet "storage-system/postgres" is limited to cpu 2 and memory 4Gi

  @offline @declared @normal
  Scenario: The PostgreSQL headless Service gives each member a stable name
    Source: Kubernetes Architecture for CSA Hello § Stateful Set Example (For Databases)
    Then the Service "storage-system/postgres" declares spec.clusterIP = None
    And the Service "storage-system/postgres" selects the pods of the StatefulSet "storage-system/postgres"

  @offline @declared @critical @known_gap @gap:csa-postgres-pgdata-is-volume-root
  Scenario: PostgreSQL keeps its data directory below the root of its volume
    Source: Kubernetes Architecture for CSA Hello § Stateful Set Example (For Databases)
    Then the StatefulSet "storage-system/postgres" sets spec.template.spec.containers[name=postgres].env[name=PGDATA].value

  @live @observed @normal
  Scenario: The docs module's shared volume is bound on managed NFS on a live cluster
    Source: Kubernetes Architecture for CSA Hello § Persistent Volume Configuration (For Storage-Intensive Services)
    Given the system is deployed
    Then the PersistentVolumeClaim "docs-system/docs-storage" is bound with 100Gi ReadWriteMany on the "managed-nfs" storage class

  @live @observed @normal
  Scenario: Each PostgreSQL member gets its own 100Gi volume on fast-storage on a live cluster
    Source: Kubernetes Architecture for CSA Hello § Stateful Set Example (For Databases)
    Given the system is deployed
    Then every pod of the StatefulSet "storage-system/postgres" has its own volume bound with 100Gi ReadWriteOnce on the "fast-storage" storage class

  @live @observed @destructive @normal
  Scenario: Each PostgreSQL member keeps its own data across a pod restart on a live cluster
    Source: Kubernetes Architecture for CSA Hello § Stateful Set Example (For Databases)
    Given the system is deployed
    Then the pods of the StatefulSet "storage-system/postgres" keep their own data across a pod restart
