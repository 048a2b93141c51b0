@quotas
Feature: CSA Hello resource allocation for the messenger service
  The messenger namespace has a hard quota and every messenger pod has fixed requests and limits;
  together they must leave room for the autoscaler's maximum.

  Background:
    Given the system "csa_hello"

  @offline @declared @normal
  Scenario: The messenger namespace quota has the documented hard limits
    Source: Kubernetes Architecture for CSA Hello § Resource Allocation and Limits
    Then the ResourceQuota "messenger-system/messenger-quota" exists
    And the quota of namespace "messenger-system" sets:
      | resource        | hard  |
      | requests.cpu    | 8     |
      | requests.memory | 16Gi  |
      | limits.cpu      | 16    |
      | limits.memory   | 32Gi  |
      | pods            | 30    |

  @offline @declared @normal
  Scenario: Each messenger pod requests 250m CPU and 512Mi and is limited to 500m and 1Gi
    Source: Kubernetes Architecture for CSA Hello § Resource Allocation and Limits
    Then the Deployment "messenger-system/messenger-service" declares spec.replicas = 5
    And the container "messenger" of the Deployment "messenger-system/messenger-service" requests cpu 250m and memory 512Mi
    And the container "messenger" of the Deployment "messenger-system/messenger-service" is limited to cpu 500m and memory 1Gi

  @offline @modeled @critical
  Scenario: The messenger quota admits the autoscaler's maximum of 20 pods
    Source: Kubernetes Architecture for CSA Hello § Resource Allocation and Limits
    Then the namespace quota admits 20 replicas of the Deployment "messenger-system/messenger-service"

  @live @observed @critical @destructive @serial
  Scenario: The API server admits messenger at the autoscaler's maximum of 20 pods
    Source: Kubernetes Architecture for CSA Hello § Resource Allocation and Limits
    Given the system is deployed
    Then the namespace "messenger-system" admits 20 pods of the Deployment "messenger-system/messenger-service"

  @live @observed @critical @destructive @serial
  Scenario: The API server refuses the 31st messenger pod with the quota's error
    Source: Kubernetes Architecture for CSA Hello § Resource Allocation and Limits
    Given the system is deployed
    Then the namespace "messenger-system" admits 30 pods of the Deployment "messenger-system/messenger-service" and refuses the next
