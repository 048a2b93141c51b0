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
