@quotas
Feature: platform-go tenant quotas
  Each tenant namespace is limited to 10 pods, 5 claims and 100Gi of requested storage.

  Background:
    Given the system "platform_go"

  @offline @declared @critical
  Scenario Outline: The <namespace> quota allows 10 pods, 5 claims and 100Gi of storage
    Source: Kubernetes Architecture Analysis (platform-go) § Best Practices › Resource Quotas
    Then the quota of namespace "<namespace>" sets:
      | resource               | hard  |
      | pods                   | 10    |
      | persistentvolumeclaims | 5     |
      | requests.storage       | 100Gi |

    Examples:
      | namespace         |
      | user-john-storage |
      | group-42-storage  |

  @offline @modeled @normal
  Scenario: The user quota admits the file browser
    Source: Kubernetes Architecture Analysis (platform-go) § Best Practices › Resource Quotas
    Then the namespace quota admits 1 replicas of the Deployment "user-john-storage/filebrowser"

  @live @observed @critical @destructive @serial
  Scenario: The API server refuses the 11th pod in a user namespace with the quota's error
    Source: Kubernetes Architecture Analysis (platform-go) § Best Practices › Resource Quotas
    Given the system is deployed
    Then the namespace "user-john-storage" admits 10 pods of the Deployment "user-john-storage/filebrowser" and refuses the next
