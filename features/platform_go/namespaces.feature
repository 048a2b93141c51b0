@namespaces
Feature: platform-go tenant namespaces
  Every user and every group gets a storage namespace of its own: user-{username}-storage and
  group-{groupid}-storage.

  Background:
    Given the system "platform_go"

  @offline @declared @normal
  Scenario: A user and a group each get their own storage namespace, named by the pattern
    Source: Kubernetes Architecture Analysis (platform-go) § Architecture Components › Namespace Organization
    Then the system has the namespaces:
      | namespace         |
      | user-john-storage |
      | group-42-storage  |

  @offline @declared @normal
  Scenario: The platform runs in-cluster with its own service account and a 30 second client timeout
    Source: Kubernetes Architecture Analysis (platform-go) § Architecture Components › API Server Integration
    Then the Deployment "platform-go/platform-go" declares spec.template.spec.serviceAccountName = platform-go
    And the ConfigMap "platform-go/platform-go-config" holds:
      | key                         | value |
      | KUBE_CLIENT_TIMEOUT_SECONDS | 30    |

  @live @observed @normal
  Scenario: Creating a user gives it its namespace, quota and 10Gi claim, and deleting it removes them
    Source: Kubernetes Architecture Analysis (platform-go) § Architecture Components › Namespace Organization
    Given the system is deployed
    When the platform creates the user "archconform"
    Then the namespace "user-archconform-storage" holds the ResourceQuota "user-quota" and the PersistentVolumeClaim "user-archconform-disk" of 10Gi
    When the platform deletes the user "archconform"
    Then the namespace "user-archconform-storage" is gone with everything in it

  @live @observed @normal
  Scenario: Creating a group gives it its namespace, quota and group claim, and deleting it removes them
    Source: Kubernetes Architecture Analysis (platform-go) § Architecture Components › Namespace Organization
    Given the system is deployed
    When the platform creates the group "archconform"
    Then the namespace "group-archconform-storage" holds the ResourceQuota "user-quota" and the PersistentVolumeClaim "group-archconform-*" of 10Gi
    When the platform deletes the group "archconform"
    Then the namespace "group-archconform-storage" is gone with everything in it

  @live @observed @critical @known_gap @gap:platform-go-cannot-create-tenant-defaults
  Scenario: The platform's own service account may make every object of a new user
    Source: Kubernetes Architecture Analysis (platform-go) § Security › RBAC Integration
    Given the system is deployed
    When the platform creates the user "archconform-rbac"
    Then the platform's service account was allowed every write of the flow
