@rollout
Feature: CSA Hello rolling updates for backend services
  Backend services are replaced gradually, with surge and unavailability under control, and a
  new pod must pass its health check before the rollout proceeds.

  Background:
    Given the system "csa_hello"

  @offline @declared @normal
  Scenario: Messenger rolls out gradually with bounded surge and unavailability
    Source: Kubernetes Architecture for CSA Hello § Deployment Strategies › Rolling Updates (For Most Backend Services)
    Then the Deployment "messenger-system/messenger-service" declares spec.strategy.type = RollingUpdate
    And the Deployment "messenger-system/messenger-service" sets spec.strategy.rollingUpdate.maxSurge
    And the Deployment "messenger-system/messenger-service" sets spec.strategy.rollingUpdate.maxUnavailable

  @offline @declared @normal
  Scenario: A new messenger pod must pass a readiness check before the rollout proceeds
    Source: Kubernetes Architecture for CSA Hello § Deployment Strategies › Rolling Updates (For Most Backend Services)
    Then the Deployment "messenger-system/messenger-service" sets spec.template.spec.containers[name=messenger].readinessProbe.httpGet.path

  @live @observed @load @critical @slow
  Scenario: A messenger rollout under load keeps at least 2 pods ready
    Source: Kubernetes Architecture for CSA Hello § Deployment Strategies › Rolling Updates (For Most Backend Services)
    Given the system is deployed
    When 20 users load the Service "messenger-system/messenger-service"
    And the Deployment "messenger-system/messenger-service" rolls out a new revision
    Then the rollout completes
    And the Deployment "messenger-system/messenger-service" never had fewer than 2 ready pods
    And fewer than 1% of the requests failed

  @offline @declared @normal
  Scenario: The frontend has a blue and a green slot and the Service sends traffic to one of them
    Source: Kubernetes Architecture for CSA Hello § Deployment Strategies › Blue-Green Deployment (For Frontend Services)
    Then the Deployment "frontend-system/frontend-blue" exists
    And the Deployment "frontend-system/frontend-green" exists
    And the Service "frontend-system/frontend" selects the pods of the Deployment "frontend-system/frontend-blue"
