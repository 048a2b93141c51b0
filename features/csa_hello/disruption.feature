@disruption
Feature: CSA Hello messenger survives voluntary disruptions
  The messenger PodDisruptionBudget keeps at least 2 messenger pods running through node drains
  and updates.

  Background:
    Given the system "csa_hello"

  @offline @declared @critical
  Scenario: The messenger PodDisruptionBudget keeps at least 2 messenger pods
    Source: Kubernetes Architecture for CSA Hello § High Availability Configuration (Following Lark Suite's Resilience Patterns)
    Then the PodDisruptionBudget "messenger-system/messenger-pdb" declares spec.minAvailable = 2
    And the PodDisruptionBudget "messenger-system/messenger-pdb" selects the pods of the Deployment "messenger-system/messenger-service"

  @offline @modeled @critical
  Scenario: At every replica count between 3 and 20 the PodDisruptionBudget keeps 2 messenger pods available
    Source: Kubernetes Architecture for CSA Hello § High Availability Configuration (Following Lark Suite's Resilience Patterns)
    Then the PodDisruptionBudget "messenger-system/messenger-pdb" keeps at least 2 pods available at every replica count the HorizontalPodAutoscaler "messenger-system/messenger-hpa" allows

  @offline @modeled @critical
  Scenario: A node drain can complete for the messenger pods at 3 and at 20 replicas
    Source: Kubernetes Architecture for CSA Hello § High Availability Configuration (Following Lark Suite's Resilience Patterns)
    Then a drain of one of 3 nodes can complete for the Deployment "messenger-system/messenger-service" at 3 replicas
    And a drain of one of 3 nodes can complete for the Deployment "messenger-system/messenger-service" at 20 replicas

  @offline @modeled @normal
  Scenario: A rolling update of messenger never leaves fewer than 2 pods available
    Source: Kubernetes Architecture for CSA Hello § High Availability Configuration (Following Lark Suite's Resilience Patterns)
    Then a rolling update of the Deployment "messenger-system/messenger-service" at 3 replicas keeps at least 2 pods available
    And a rolling update of the Deployment "messenger-system/messenger-service" at 5 replicas keeps at least 2 pods available

  @live @observed @destructive @serial @critical
  Scenario: The nodes that run messenger can be drained while its budget keeps 2 pods ready
    Source: Kubernetes Architecture for CSA Hello § High Availability Configuration (Following Lark Suite's Resilience Patterns)
    Given the system is deployed
    When the nodes running pods of the Deployment "messenger-system/messenger-service" are drained
    Then the Deployment "messenger-system/messenger-service" never had fewer than 2 ready pods

  @live @observed @destructive @serial @load @critical @slow
  Scenario: Draining the nodes that run messenger keeps at least 2 messenger pods ready
    Source: Kubernetes Architecture for CSA Hello § High Availability Configuration (Following Lark Suite's Resilience Patterns)
    Given the system is deployed
    When 20 users load the Service "messenger-system/messenger-service"
    And the nodes running pods of the Deployment "messenger-system/messenger-service" are drained
    Then the Deployment "messenger-system/messenger-service" never had fewer than 2 ready pods
    And fewer than 1% of the requests failed
