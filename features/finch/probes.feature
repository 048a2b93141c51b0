@probes
Feature: Finch health checks
  Frontend and backend are health-checked over HTTP.

  Background:
    Given the system "finch"

  @offline @declared @normal
  Scenario: The frontend and the backend are checked on /health
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Frontend Deployment (Vue.js)
    Then the container "finch-frontend" of the Deployment "finch-production/finch-frontend" has a readiness probe on HTTP GET /health port 8080
    And the container "finch-frontend" of the Deployment "finch-production/finch-frontend" has a liveness probe on HTTP GET /health port 8080
    And the container "finch-backend" of the Deployment "finch-production/finch-backend" has a readiness probe on HTTP GET /health port 8000
    And the container "finch-backend" of the Deployment "finch-production/finch-backend" has a liveness probe on HTTP GET /health port 8000

  @live @observed @normal
  Scenario: The frontend and the backend answer /health on a live cluster
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Frontend Deployment (Vue.js)
    Given the system is deployed
    Then every pod of the Deployment "finch-production/finch-frontend" answers HTTP GET /health on port 8080
    And every pod of the Deployment "finch-production/finch-backend" answers HTTP GET /health on port 8000

  @live @observed @destructive @normal
  Scenario: An unhealthy backend pod is taken out of the Service and comes back when healthy
    Source: Kubernetes Architecture Documentation (Finch) § Ingress Configuration › Load Balancing
    Given the system is deployed
    When one pod of the Deployment "finch-production/finch-backend" starts failing its readiness probe
    Then the pod leaves the endpoints of the Service "finch-production/finch-backend" within its readiness probe budget
    When the pod passes its readiness probe again
    Then the pod returns to the endpoints of the Service "finch-production/finch-backend" within its readiness probe budget
