@probes
Feature: ITDO ERP health checks on a live cluster
  The gateway is checked on /health (readiness and liveness), the backend on /health (readiness)
  and /ping (liveness).

  Background:
    Given the system "itdo_erp"

  @live @observed @normal
  Scenario: The gateway answers its health path on a live cluster
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Application Architecture › Microservices Deployment Pattern
    Given the system is deployed
    Then every pod of the Deployment "itdo-erp-prod/api-gateway" answers HTTP GET /health on port 8080

  @live @observed @normal
  Scenario: The backend answers its readiness and liveness paths on a live cluster
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Application Architecture › Backend Services › FastAPI Service
    Given the system is deployed
    Then every pod of the Deployment "itdo-erp-prod/backend-api" answers HTTP GET /health on port 8000
    And every pod of the Deployment "itdo-erp-prod/backend-api" answers HTTP GET /ping on port 8000
