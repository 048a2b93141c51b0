@disruption
Feature: TByte disruption budgets
  One PodDisruptionBudget per tier keeps at least 50% of the pods and lets at most 1 go at a time.

  Background:
    Given the system "tbyte"

  @offline @declared @critical
  Scenario Outline: The <tier> PodDisruptionBudget selects the <tier> pods and lets at most 1 go at a time
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then the PodDisruptionBudget "tbyte/<tier>-pdb" selects the pods of the Deployment "tbyte/<tier>"
    And the PodDisruptionBudget "tbyte/<tier>-pdb" declares spec.maxUnavailable = 1

    Examples:
      | tier     |
      | frontend |
      | backend  |

  @offline @declared @critical @known_gap @gap:tbyte-pdb-min-and-max-in-one
  Scenario: The PodDisruptionBudget declares both minAvailable 50% and maxUnavailable 1
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then the PodDisruptionBudget "tbyte/backend-pdb" declares:
      | field               | value |
      | spec.minAvailable   | 50%   |
      | spec.maxUnavailable | 1     |

  @offline @modeled @critical
  Scenario: At every replica count from 2 to 10 the budget keeps at least half of the backend pods and lets 1 go
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then the PodDisruptionBudget "tbyte/backend-pdb" keeps at least 1 pods available at every replica count the HorizontalPodAutoscaler "tbyte/backend-hpa" allows
    And the PodDisruptionBudget "tbyte/backend-pdb" allows 1 voluntary disruptions at 2 replicas
    And the PodDisruptionBudget "tbyte/backend-pdb" allows 1 voluntary disruptions at 10 replicas

  @offline @modeled @critical
  Scenario: A node drain can complete for frontend and backend at their minimum of 2 replicas
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then a drain of one of 3 nodes can complete for the Deployment "tbyte/frontend" at 2 replicas
    And a drain of one of 3 nodes can complete for the Deployment "tbyte/backend" at 2 replicas

  @live @observed @destructive @serial @critical
  Scenario: The nodes that run the frontend can be drained while its budget keeps 1 pod ready
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system is deployed
    When the nodes running pods of the Deployment "tbyte/frontend" are drained
    Then the Deployment "tbyte/frontend" never had fewer than 1 ready pods

  @live @observed @destructive @serial @load @critical @slow
  Scenario: Draining the nodes that run the backend keeps at least 1 backend pod ready
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system is deployed
    When 20 users load the Service "tbyte/backend"
    And the nodes running pods of the Deployment "tbyte/backend" are drained
    Then the Deployment "tbyte/backend" never had fewer than 1 ready pods
    And fewer than 1% of the requests failed
