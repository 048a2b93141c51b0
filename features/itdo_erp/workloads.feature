@workloads
Feature: ITDO ERP application tier
  The API gateway runs 3 replicas on 8080, the FastAPI backend 5 replicas on 8000, the React
  frontend 3 replicas on 3000, each with documented resources and probes.

  Background:
    Given the system "itdo_erp"

  @offline @declared @normal
  Scenario: The API gateway runs 3 replicas of 500m/1Gi requests and 2/4Gi limits on port 8080
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Application Architecture › Microservices Deployment Pattern
    Then the Deployment "itdo-erp-prod/api-gateway" declares spec.replicas = 3
    And the Deployment "itdo-erp-prod/api-gateway" declares spec.template.metadata.labels.tier = gateway
    And the container "gateway" of the Deployment "itdo-erp-prod/api-gateway" requests cpu 500m and memory 1Gi
    And the container "gateway" of the Deployment "itdo-erp-prod/api-gateway" is limited to cpu 2 and memory 4Gi
    And the container "gateway" of the Deployment "itdo-erp-prod/api-gateway" declares ports[0].containerPort = 8080

  @offline @declared @normal
  Scenario: The backend runs 5 replicas of 1 CPU/2Gi requests and 4/8Gi limits on port 8000
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Application Architecture › Backend Services › FastAPI Service
    Then the Deployment "itdo-erp-prod/backend-api" declares spec.replicas = 5
    And the Deployment "itdo-erp-prod/backend-api" declares spec.template.metadata.labels.tier = backend
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" requests cpu 1 and memory 2Gi
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" is limited to cpu 4 and memory 8Gi
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" declares ports[0].containerPort = 8000

  @offline @declared @normal
  Scenario: The frontend runs 3 replicas of 250m/512Mi requests and 1/2Gi limits on port 3000
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Application Architecture › Backend Services › React Frontend
    Then the Deployment "itdo-erp-prod/frontend-app" declares spec.replicas = 3
    And the container "frontend" of the Deployment "itdo-erp-prod/frontend-app" requests cpu 250m and memory 512Mi
    And the container "frontend" of the Deployment "itdo-erp-prod/frontend-app" is limited to cpu 1 and memory 2Gi
    And the container "frontend" of the Deployment "itdo-erp-prod/frontend-app" has a readiness probe on HTTP GET / port 3000

  @offline @declared @normal
  Scenario: Gateway and backend have the documented readiness and liveness probes
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Application Architecture › Backend Services › FastAPI Service
    Then the container "gateway" of the Deployment "itdo-erp-prod/api-gateway" has a readiness probe on HTTP GET /health port 8080
    And the container "gateway" of the Deployment "itdo-erp-prod/api-gateway" has a liveness probe on HTTP GET /health port 8080
    And the container "gateway" of the Deployment "itdo-erp-prod/api-gateway" declares readinessProbe.initialDelaySeconds = 10
    And the container "gateway" of the Deployment "itdo-erp-prod/api-gateway" declares livenessProbe.initialDelaySeconds = 30
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" has a readiness probe on HTTP GET /health port 8000
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" has a liveness probe on HTTP GET /ping port 8000
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" declares readinessProbe.initialDelaySeconds = 15
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" declares livenessProbe.periodSeconds = 10

  @offline @declared @normal
  Scenario: The backend reads its database URL from a Secret, its Redis URL and config from ConfigMaps
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Application Architecture › Backend Services › FastAPI Service
    Then the container "api" of the Deployment "itdo-erp-prod/backend-api" declares env[name=DATABASE_URL].valueFrom.secretKeyRef.name = database-secret
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" declares env[name=REDIS_URL].valueFrom.configMapKeyRef.name = redis-config
    And the container "api" of the Deployment "itdo-erp-prod/backend-api" declares volumeMounts[name=app-config].mountPath = /app/config
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "itdo-erp-prod/backend-api" refers to exists

  @offline @declared @normal @known_gap @gap:itdo-no-tolerations-for-tainted-node-groups
  Scenario: The application pods can run on the tainted application node group
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Cluster Architecture › Node Groups › Application Node Group
    Then the Deployment "itdo-erp-prod/backend-api" declares spec.template.spec.tolerations[key=workload-type].value = application
    And the Deployment "itdo-erp-prod/api-gateway" declares spec.template.spec.tolerations[key=workload-type].value = application

  @live @observed @normal @known_gap @gap:itdo-no-tolerations-for-tainted-node-groups
  Scenario: The backend and the gateway are scheduled on the application node group on a live cluster
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Cluster Architecture › Node Groups › Application Node Group
    Given the system is deployed
    Then the pods of the Deployment "itdo-erp-prod/backend-api" can be scheduled on the node group "application"
    And the pods of the Deployment "itdo-erp-prod/api-gateway" can be scheduled on the node group "application"

  @live @observed @normal @known_gap @gap:itdo-no-tolerations-for-tainted-node-groups
  Scenario: The Redis cluster is scheduled on the data node group on a live cluster
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Cluster Architecture › Node Groups › Data Node Group
    Given the system is deployed
    Then the pods of the StatefulSet "itdo-erp-prod/redis-cluster" can be scheduled on the node group "data"

  @live @observed @normal
  Scenario: Every backend pod becomes ready within 30 seconds of its creation
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Success Metrics › Performance Targets
    Given the system is deployed
    Then every pod of the Deployment "itdo-erp-prod/backend-api" becomes ready within 30s of its creation
