@rollout
Feature: Finch rolling updates and rollbacks
  The frontend rolls with zero downtime, the backend with at most 1 pod unavailable; a release can
  be rolled back to the previous or a given revision.

  Background:
    Given the system "finch"

  @offline @declared @normal
  Scenario: The frontend rolls with no pod unavailable and the backend with at most 1
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Backend Deployment (Django)
    Then the Deployment "finch-production/finch-frontend" declares spec.strategy.rollingUpdate.maxUnavailable = 0
    And the Deployment "finch-production/finch-backend" declares spec.strategy.type = RollingUpdate
    And the Deployment "finch-production/finch-backend" declares spec.strategy.rollingUpdate.maxUnavailable = 1

  @offline @modeled @critical
  Scenario: A rolling update keeps both frontend pods and 2 of 3 backend pods available
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Frontend Deployment (Vue.js)
    Then a rolling update of the Deployment "finch-production/finch-frontend" at 2 replicas keeps at least 2 pods available
    And a rolling update of the Deployment "finch-production/finch-backend" at 3 replicas keeps at least 2 pods available

  @offline @declared @normal
  Scenario: Enough revisions are kept to roll back to revision 2
    Source: Kubernetes Architecture Documentation (Finch) § Deployment Procedures › Rollback Procedures
    Then the Deployment "finch-production/finch-backend" does not set spec.revisionHistoryLimit

  @live @observed @load @critical @slow
  Scenario: A frontend rollout under load keeps both frontend pods ready
    Source: Kubernetes Architecture Documentation (Finch) § Deployment Procedures › Rolling Updates
    Given the system is deployed
    When 20 users load the Service "finch-production/finch-frontend"
    And the Deployment "finch-production/finch-frontend" rolls out a new revision
    Then the rollout completes
    And the Deployment "finch-production/finch-frontend" never had fewer than 2 ready pods
    And fewer than 1% of the requests failed

  @live @observed @normal @slow
  Scenario: A backend rollback restores the previous revision with at least 2 pods ready
    Source: Kubernetes Architecture Documentation (Finch) § Deployment Procedures › Rollback Procedures
    Given the system is deployed
    When the Deployment "finch-production/finch-backend" rolls out a new revision
    And the Deployment "finch-production/finch-backend" is rolled back to the previous revision
    Then the rollout completes
    And the Deployment "finch-production/finch-backend" never had fewer than 2 ready pods
