@configuration
Feature: Finch configuration and secrets
  Runtime configuration comes from environment variables; Redis requires a password; the database
  uses password authentication.

  Background:
    Given the system "finch"

  @offline @declared @normal
  Scenario: Every component's configuration and secrets exist
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Frontend Deployment (Vue.js)
    Then every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "finch-production/finch-frontend" refers to exists
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "finch-production/finch-backend" refers to exists
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "finch-production/finch-celery-worker" refers to exists
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "finch-production/redis" refers to exists

  @offline @declared @normal
  Scenario: Redis evicts with allkeys-lru, persists with AOF and needs a password
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Cache Deployment (Redis)
    Then the container "redis" of the Deployment "finch-production/redis" runs with the argument "allkeys-lru"
    And the container "redis" of the Deployment "finch-production/redis" runs with the argument "--appendonly"
    And the Secret "finch-production/redis-credentials" exists

  @live @observed @normal
  Scenario: The backend sees its configuration and secrets in its environment on a live cluster
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Backend Deployment (Django)
    Given the system is deployed
    Then the container "finch-backend" of the Deployment "finch-production/finch-backend" sees the ConfigMap "finch-backend-config" as environment variables
    And the container "finch-backend" of the Deployment "finch-production/finch-backend" sees the key "url" of the Secret "postgres-credentials" as DATABASE_URL
    And the container "finch-backend" of the Deployment "finch-production/finch-backend" sees the key "url" of the Secret "redis-credentials" as REDIS_URL
    And the container "finch-backend" of the Deployment "finch-production/finch-backend" sees the key "django-secret-key" of the Secret "finch-backend-secrets" as DJANGO_SECRET_KEY
    And no pod of the system carries a secret as a literal value
