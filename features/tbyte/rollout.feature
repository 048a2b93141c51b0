@rollout
Feature: TByte rolling deployments
  Frontend and backend roll out with at most 25% unavailable and 25% surge.

  Background:
    Given the system "tbyte"

  @offline @declared @normal
  Scenario Outline: The <tier> Deployment rolls with 25% max unavailable and 25% max surge
    Source: Kubernetes Architecture - TByte Microservices Platform § Deployment Strategies › Rolling Deployment (Current)
    Then the Deployment "tbyte/<tier>" declares:
      | field                                   | value         |
      | spec.strategy.type                      | RollingUpdate |
      | spec.strategy.rollingUpdate.maxUnavailable | 25%        |
      | spec.strategy.rollingUpdate.maxSurge    | 25%           |

    Examples:
      | tier     |
      | frontend |
      | backend  |

  @offline @modeled @normal
  Scenario: A rolling update keeps every backend pod available at 2 replicas and 8 of 10 at 10
    Source: Kubernetes Architecture - TByte Microservices Platform § Deployment Strategies › Rolling Deployment (Current)
    Then a rolling update of the Deployment "tbyte/backend" at 2 replicas keeps at least 2 pods available
    And a rolling update of the Deployment "tbyte/backend" at 10 replicas keeps at least 8 pods available

  @live @observed @load @normal @slow
  Scenario: A frontend rollout under load keeps 2 pods ready
    Source: Kubernetes Architecture - TByte Microservices Platform § Deployment Strategies › Rolling Deployment (Current)
    Given the system is deployed
    When 20 users load the Service "tbyte/frontend"
    And the Deployment "tbyte/frontend" rolls out a new revision
    Then the rollout completes
    And the Deployment "tbyte/frontend" never had fewer than 2 ready pods
