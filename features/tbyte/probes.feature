@probes
Feature: TByte health checks
  Liveness on HTTP /health after 30 s, readiness on /ready after 5 s, start-up on /startup with
  up to 30 failures.

  Background:
    Given the system "tbyte"

  @offline @declared @normal
  Scenario Outline: The <tier> container has liveness, readiness and startup probes with the documented settings
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then the container "<tier>" of the Deployment "tbyte/<tier>" has a liveness probe on HTTP GET /health port 80
    And the container "<tier>" of the Deployment "tbyte/<tier>" has a readiness probe on HTTP GET /ready port 80
    And the container "<tier>" of the Deployment "tbyte/<tier>" has a startup probe on HTTP GET /startup port 80
    And the container "<tier>" of the Deployment "tbyte/<tier>" declares livenessProbe.initialDelaySeconds = 30
    And the container "<tier>" of the Deployment "tbyte/<tier>" declares readinessProbe.initialDelaySeconds = 5
    And the container "<tier>" of the Deployment "tbyte/<tier>" declares startupProbe.failureThreshold = 30

    Examples:
      | tier     |
      | frontend |
      | backend  |

  @live @observed @normal
  Scenario: Backend pods become ready on a live cluster
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system is deployed
    Then the Deployment "tbyte/backend" reaches 2 ready replicas
