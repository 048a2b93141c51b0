@resources
Feature: Finch component sizes and replicas
  Each component has documented requests, limits and replica counts (production / staging).

  Background:
    Given the system "finch"

  @offline @declared @normal
  Scenario: Frontend runs 2 replicas of 100m/128Mi requests and 200m/256Mi limits (1 in staging)
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Frontend Deployment (Vue.js)
    Then the Deployment "finch-production/finch-frontend" declares spec.replicas = 2
    And the Deployment "finch-staging/finch-frontend" declares spec.replicas = 1
    And the container "finch-frontend" of the Deployment "finch-production/finch-frontend" requests cpu 100m and memory 128Mi
    And the container "finch-frontend" of the Deployment "finch-production/finch-frontend" is limited to cpu 200m and memory 256Mi

  @offline @declared @normal
  Scenario: Backend runs 3 replicas of 250m/512Mi requests and 500m/1Gi limits (1 in staging)
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Backend Deployment (Django)
    Then the Deployment "finch-production/finch-backend" declares spec.replicas = 3
    And the Deployment "finch-staging/finch-backend" declares spec.replicas = 1
    And the container "finch-backend" of the Deployment "finch-production/finch-backend" requests cpu 250m and memory 512Mi
    And the container "finch-backend" of the Deployment "finch-production/finch-backend" is limited to cpu 500m and memory 1Gi

  @offline @declared @normal
  Scenario: PostgreSQL requests 250m/256Mi and is limited to 500m/1Gi
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Database Deployment (PostgreSQL)
    Then the container "postgres" of the Deployment "finch-production/postgres" requests cpu 250m and memory 256Mi
    And the container "postgres" of the Deployment "finch-production/postgres" is limited to cpu 500m and memory 1Gi
    And the Deployment "finch-production/postgres" declares spec.replicas = 1

  @offline @declared @normal
  Scenario: Redis requests 100m/128Mi and is limited to 250m/512Mi
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Cache Deployment (Redis)
    Then the container "redis" of the Deployment "finch-production/redis" requests cpu 100m and memory 128Mi
    And the container "redis" of the Deployment "finch-production/redis" is limited to cpu 250m and memory 512Mi

  @offline @declared @normal
  Scenario: Celery runs 2 workers of 200m/256Mi requests and 400m/512Mi limits, 4 processes each (1 in staging)
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Worker Deployment (Celery)
    Then the Deployment "finch-production/finch-celery-worker" declares spec.replicas = 2
    And the Deployment "finch-staging/finch-celery-worker" declares spec.replicas = 1
    And the container "finch-celery-worker" of the Deployment "finch-production/finch-celery-worker" requests cpu 200m and memory 256Mi
    And the container "finch-celery-worker" of the Deployment "finch-production/finch-celery-worker" is limited to cpu 400m and memory 512Mi
    And the ConfigMap "finch-production/finch-backend-config" holds:
      | key                | value |
      | CELERY_CONCURRENCY | 4     |

  @offline @declared @normal @known_gap @gap:finch-no-guaranteed-qos
  Scenario: The critical pods get the Guaranteed QoS class
    Source: Kubernetes Architecture Documentation (Finch) § Performance Optimization › Resource Optimization
    Then the pods of the Deployment "finch-production/postgres" get the "Guaranteed" QoS class
    And the pods of the Deployment "finch-production/finch-backend" get the "Guaranteed" QoS class
