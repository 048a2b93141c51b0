@rollout
Feature: ITDO ERP zero-downtime rolling updates
  The backend rolls with 1 surge and 1 unavailable pod; rolling updates finish within 5 minutes.

  Background:
    Given the system "itdo_erp"

  @offline @declared @normal
  Scenario: The backend rolls with at most 1 extra and 1 unavailable pod
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Application Architecture › Backend Services › FastAPI Service
    Then the Deployment "itdo-erp-prod/backend-api" declares:
      | field                                       | value         |
      | spec.strategy.type                          | RollingUpdate |
      | spec.strategy.rollingUpdate.maxSurge        | 1             |
      | spec.strategy.rollingUpdate.maxUnavailable  | 1             |

  @offline @modeled @critical
  Scenario: A rolling update keeps 4 of 5 backend pods and 2 of 3 at the autoscaler's minimum
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Architecture Principles › Core Design Principles
    Then a rolling update of the Deployment "itdo-erp-prod/backend-api" at 5 replicas keeps at least 4 pods available
    And a rolling update of the Deployment "itdo-erp-prod/backend-api" at 3 replicas keeps at least 2 pods available

  @live @observed @load @critical @slow
  Scenario: A backend rolling update finishes within 5 minutes with at most 1 pod unavailable
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Success Metrics › Performance Targets
    Given the system is deployed
    When 20 users load the Service "itdo-erp-prod/api-gateway"
    And the Deployment "itdo-erp-prod/backend-api" rolls out a new revision
    Then the rollout completes within 5m
    And the Deployment "itdo-erp-prod/backend-api" never had more than 1 unavailable pods
    And fewer than 1% of the requests failed
