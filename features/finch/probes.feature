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
