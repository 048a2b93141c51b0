@configuration
Feature: ITDO ERP backend configuration and secrets on a live cluster
  The backend takes its database URL from a Secret, its Redis URL from a ConfigMap, and mounts its
  configuration read-only at /app/config.

  Background:
    Given the system "itdo_erp"

  @live @observed @normal
  Scenario: The backend sees its database URL, Redis URL and configuration files on a live cluster
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Application Architecture › Backend Services › FastAPI Service
    Given the system is deployed
    Then the container "api" of the Deployment "itdo-erp-prod/backend-api" sees the key "url" of the Secret "database-secret" as DATABASE_URL
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" sees the ConfigMap "redis-config" as environment variables
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" sees the ConfigMap "backend-config" as files in /app/config
    And no pod of the system carries a secret as a literal value
