@storage
Feature: platform-go user and group storage
  Each user gets a 10Gi ReadWriteOnce claim on the standard class, mounted at /data; group storage
  is shared and named group-{id}-{uuid8}; configuration is mounted at /config.

  Background:
    Given the system "platform_go"

  @offline @declared @critical
  Scenario: The user's claim is 10Gi ReadWriteOnce on the standard class
    Source: Kubernetes Architecture Analysis (platform-go) § Storage Architecture › Persistent Volume Claims
    Then the PersistentVolumeClaim "user-john-storage/user-john-disk" declares:
      | field                           | value         |
      | spec.accessModes                | ReadWriteOnce |
      | spec.resources.requests.storage | 10Gi          |
      | spec.storageClassName           | standard      |
    And the ConfigMap "platform-go/platform-go-config" holds:
      | key                       | value    |
      | USER_STORAGE_DEFAULT_SIZE | 10Gi     |
      | USER_STORAGE_CLASS        | standard |

  @offline @declared @normal
  Scenario: Group storage lives in the group namespace and is shared by its members
    Source: Kubernetes Architecture Analysis (platform-go) § Resource Management › Storage Management
    Then the PersistentVolumeClaim "group-42-storage/group-42-5f3c9a1e" declares spec.accessModes = ReadWriteMany

  @offline @declared @normal
  Scenario: User workloads see user storage at /data and configuration at /config
    Source: Kubernetes Architecture Analysis (platform-go) § Storage Architecture › Volume Mounts
    Then the container "filebrowser" of the Deployment "user-john-storage/filebrowser" declares volumeMounts[name=user-storage].mountPath = /data
    And the container "filebrowser" of the Deployment "user-john-storage/filebrowser" declares volumeMounts[name=config].mountPath = /config
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "user-john-storage/filebrowser" refers to exists

  @offline @declared @normal @known_gap @gap:platform-go-group-storage-cannot-mount-across-namespaces
  Scenario: User workloads mount their group's storage at /shared
    Source: Kubernetes Architecture Analysis (platform-go) § Storage Architecture › Volume Mounts
    Then the container "filebrowser" of the Deployment "user-john-storage/filebrowser" declares volumeMounts[mountPath=/shared].name = group-storage
    And the PersistentVolumeClaim "user-john-storage/group-42-5f3c9a1e" exists

  @live @observed @normal
  Scenario: The file browser starts with the user's storage on a live cluster
    Source: Kubernetes Architecture Analysis (platform-go) § Networking › File Browser Access
    Given the system is deployed
    Then the Deployment "user-john-storage/filebrowser" reaches 1 ready replicas

  @live @observed @normal
  Scenario: The user's claim is bound with 10Gi ReadWriteOnce on the standard class on a live cluster
    Source: Kubernetes Architecture Analysis (platform-go) § Storage Architecture › Persistent Volume Claims
    Given the system is deployed
    Then the PersistentVolumeClaim "user-john-storage/user-john-disk" is bound with 10Gi ReadWriteOnce on the "standard" storage class

  @live @observed @destructive @normal
  Scenario: The user's claim can be expanded through the API on a live cluster
    Source: Kubernetes Architecture Analysis (platform-go) § Resource Management › Storage Management
    Given the system is deployed
    Then the PersistentVolumeClaim "user-john-storage/user-john-disk" can be expanded to 11Gi
