@autoscaling
Feature: Messenger autoscaling
  The messenger service scales horizontally with its load.

  @offline @declared @critical
  Scenario: messenger-service may scale from 3 to 20 replicas
    Source: Kubernetes Architecture for CSA Hello § Horizontal Pod Autoscaling
    Given the HPA of messenger-service
    Then it allows 3 to 20 replicas

  @offline @modeled @known_gap @gap:csa-quota
  Scenario: the messenger namespace quota admits 20 replicas
    Source: Kubernetes Architecture for CSA Hello § Resource Allocation and Limits
    Given the HPA of messenger-service
    Then the quota admits 20 pods

  @live @observed @load @critical
  Scenario: messenger-service reaches 20 replicas under load within 2 minutes
    Source: Kubernetes Architecture for CSA Hello § Horizontal Pod Autoscaling
    Given the HPA of messenger-service
    Then it allows 3 to 20 replicas

  @offline @declared
  Scenario Outline: <service> keeps a PodDisruptionBudget
    Source: Kubernetes Architecture for CSA Hello § High Availability Configuration (Following Lark Suite's Resilience Patterns)
    Given the PodDisruptionBudget of <service>
    Then it keeps at least 2 pods

    Examples:
      | service           |
      | messenger-service |
      | auth-service      |
