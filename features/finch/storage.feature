@storage
Feature: Finch persistent storage
  PostgreSQL gets 20Gi on fast-ssd (10Gi in staging), media files 50Gi shared by every backend pod
  (10Gi in staging), the cache 5Gi SSD (2Gi in staging).

  Background:
    Given the system "finch"

  @offline @declared @normal
  Scenario: The database volume is 20Gi on fast-ssd in production and 10Gi in staging
    Source: Kubernetes Architecture Documentation (Finch) § Persistent Storage Strategy › Volume Types › Database Storage
    Then the PersistentVolumeClaim "finch-production/postgres-data" declares:
      | field                           | value    |
      | spec.resources.requests.storage | 20Gi     |
      | spec.storageClassName           | fast-ssd |
    And the PersistentVolumeClaim "finch-staging/postgres-data" declares spec.resources.requests.storage = 10Gi
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "finch-production/postgres" refers to exists

  @offline @declared @normal
  Scenario: Media files get a 50Gi ReadWriteMany volume mounted by the backend (10Gi in staging)
    Source: Kubernetes Architecture Documentation (Finch) § Persistent Storage Strategy › Volume Types › Media Files
    Then the PersistentVolumeClaim "finch-production/finch-media" declares:
      | field                           | value         |
      | spec.resources.requests.storage | 50Gi          |
      | spec.accessModes                | ReadWriteMany |
    And the PersistentVolumeClaim "finch-staging/finch-media" declares spec.resources.requests.storage = 10Gi
    And the Deployment "finch-production/finch-backend" declares spec.template.spec.volumes[name=media].persistentVolumeClaim.claimName = finch-media

  @offline @declared @normal
  Scenario: The cache volume is 5Gi on SSD in production and 2Gi in staging
    Source: Kubernetes Architecture Documentation (Finch) § Persistent Storage Strategy › Volume Types › Cache Storage
    Then the PersistentVolumeClaim "finch-production/redis-data" declares:
      | field                           | value    |
      | spec.resources.requests.storage | 5Gi      |
      | spec.storageClassName           | fast-ssd |
    And the PersistentVolumeClaim "finch-staging/redis-data" declares spec.resources.requests.storage = 2Gi

  @live @observed @normal
  Scenario: The database claim is bound with 20Gi on fast-ssd on a live cluster
    Source: Kubernetes Architecture Documentation (Finch) § Persistent Storage Strategy › Volume Types › Database Storage
    Given the system is deployed
    Then the PersistentVolumeClaim "finch-production/postgres-data" is bound with 20Gi ReadWriteOnce on the "fast-ssd" storage class

  @live @observed @normal
  Scenario: The cache claim is bound with 5Gi on fast-ssd on a live cluster
    Source: Kubernetes Architecture Documentation (Finch) § Persistent Storage Strategy › Volume Types › Cache Storage
    Given the system is deployed
    Then the PersistentVolumeClaim "finch-production/redis-data" is bound with 5Gi ReadWriteOnce on the "fast-ssd" storage class
