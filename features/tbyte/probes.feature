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

  @live @observed @normal
  Scenario: Every backend pod answers its probe paths and started within its startup budget on a live cluster
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system is deployed
    Then every pod of the Deployment "tbyte/backend" answers HTTP GET /health on port 80
    And every pod of the Deployment "tbyte/backend" answers HTTP GET /ready on port 80
    And every pod of the Deployment "tbyte/backend" answers HTTP GET /startup on port 80
    And every pod of the Deployment "tbyte/backend" started within its startup probe budget

  @live @observed @destructive @normal
  Scenario: A backend pod failing its liveness probe is restarted within the probe's budget
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system is deployed
    When one pod of the Deployment "tbyte/backend" starts failing its liveness probe
    Then the pod is restarted within its liveness probe budget

  @live @observed @destructive @normal
  Scenario: A backend pod failing its readiness probe leaves the Service and comes back when ready
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system is deployed
    When one pod of the Deployment "tbyte/backend" starts failing its readiness probe
    Then the pod leaves the endpoints of the Service "tbyte/backend" within its readiness probe budget
    When the pod passes its readiness probe again
    Then the pod returns to the endpoints of the Service "tbyte/backend" within its readiness probe budget
