"""job_spec/S1_CORRECTION_FIXED.yml: the structure hyp3's apps/render_cf.py enforces, the API schema HyP3 builds
from it (job_parameters.yml.j2), and a command line the workflow's parser accepts as HyP3 passes it."""

import re
from typing import Any

import jsonschema
import pytest
import yaml

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.workflows.s1_correction_fixed import build_parser
from tests.support.shared import REPO_ROOT, load_toml


JOB_SPEC = REPO_ROOT / 'job_spec' / 'S1_CORRECTION_FIXED.yml'
SCENES, BURSTS = 'S1_CORRECTION_FIXED', 'S1_CORRECTION_FIXED_BURST'
JOB_FIELDS = {'required_parameters', 'parameters', 'cost_profiles', 'validators', 'steps'}
STEP_FIELDS = {'name', 'image', 'command', 'timeout', 'compute_environment', 'vcpu', 'memory', 'secrets'}
# Set by HyP3 itself for every job: get_batch_job_parameters maps them without a job parameter.
HYP3_REFERENCES = {'job_id', 'bucket', 'bucket_prefix'}
# The validators hyp3's apps/api/src/hyp3_api/validation.py offers that make sense for a pair of S1 names.
DEPLOYMENT_VALIDATORS = {'check_same_relative_orbits', 'check_dem_coverage', 'check_not_antimeridian'}

S1D_SCENE = 'S1D_IW_SLC__1SDV_20251104T022008_20251104T022035_001230_0045A2_3B1F'
BURST = 'S1_136231_IW2_20200604T022312_VV_7C85-BURST'
MALFORMED = [
    'S1E_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7',  # no such mission
    'S1A_EW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7',  # EW, not IW
    'S1A_IW_GRDH_1SDV_20250406T022008_20250406T022035_058630_07421F_93A7',  # GRD, not SLC
    'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93a7',  # lowercase CRC
    'S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A',  # one character short
    'S1_136231_IW4_20200604T022312_VV_7C85-BURST',  # no swath IW4
    'S1_136231_IW2_20200604T022312_VV_7C85-BURSTS',
    'S1_13623_IW2_20200604T022312_VV_7C85-BURST',
]


@pytest.fixture(scope='module')
def document() -> dict[str, Any]:
    return yaml.safe_load(JOB_SPEC.read_text())


def check_render_cf_structure(job_type: str, job: dict[str, Any]) -> None:
    """What render_cf.py (validate_job_spec and the renderers after it) needs of a job spec, restated."""
    assert set(job) == JOB_FIELDS, f'{job_type} has fields {sorted(job)}'
    assert 'job_id' not in job['parameters'], 'job_id is a reserved parameter name'
    for name, parameter in job['parameters'].items():
        assert list(parameter) == ['api_schema'], f'parameter {name} must hold api_schema only'
        if name not in job['required_parameters']:  # render_default_params_by_job_type reads every default
            assert 'default' in parameter['api_schema'], f'optional parameter {name} has no default'
    assert set(job['required_parameters']) <= set(job['parameters'])
    for profile in job['cost_profiles'].values():
        assert set(profile) in ({'cost'}, {'cost_parameters', 'cost_table'})
        if 'cost' in profile:
            assert isinstance(profile['cost'], float) and profile['cost'] > 0
    assert {'DEFAULT', 'EDC'} <= set(job['cost_profiles']), 'render_costs reads the deployment cost profile'
    assert isinstance(job['validators'], list)
    for step in job['steps']:
        assert STEP_FIELDS <= set(step) <= STEP_FIELDS | {'image_tag', 'map'}
        assert step['image'].islower(), 'docker requires the image to be all lowercase'
        assert all(isinstance(item, str) for item in step['command']), 'Batch commands are strings'
        for item in step['command']:
            if item.startswith('Ref::'):  # get_batch_job_parameters: "job parameter ... has not been defined"
                name = item.removeprefix('Ref::')
                assert name in HYP3_REFERENCES or name in job['parameters'], f'Ref::{name} is not defined'
        assert isinstance(step['vcpu'], int) and isinstance(step['memory'], int) and isinstance(step['timeout'], int)


def parameters_schema(job: dict[str, Any]) -> dict[str, Any]:
    """The <JOB_TYPE>Parameters schema hyp3's job_parameters.yml.j2 builds from the job spec."""
    return {
        'type': 'object',
        'additionalProperties': False,
        'required': list(job['required_parameters']),
        'properties': {name: parameter['api_schema'] for name, parameter in job['parameters'].items()},
    }


def is_valid(job: dict[str, Any], parameters: dict[str, Any]) -> bool:
    validator = jsonschema.Draft202012Validator(parameters_schema(job))
    return not list(validator.iter_errors(parameters))


@pytest.mark.parametrize('job_type', [SCENES, BURSTS])
def test_the_spec_has_the_structure_render_cf_enforces(document: dict[str, Any], job_type: str) -> None:
    check_render_cf_structure(job_type, document[job_type])
    jsonschema.Draft202012Validator.check_schema(parameters_schema(document[job_type]))


def test_the_structural_check_rejects_what_render_cf_rejects(document: dict[str, Any]) -> None:
    job = yaml.safe_load(yaml.safe_dump(document[SCENES]))
    job['steps'][0]['command'].append('Ref::undefined')
    with pytest.raises(AssertionError, match='Ref::undefined is not defined'):
        check_render_cf_structure(SCENES, job)
    job = yaml.safe_load(yaml.safe_dump(document[SCENES]))
    job['parameters']['buffer']['default'] = 0
    with pytest.raises(AssertionError, match='parameter buffer must hold api_schema only'):
        check_render_cf_structure(SCENES, job)
    job = yaml.safe_load(yaml.safe_dump(document[SCENES]))
    job['steps'][0]['image'] = 'ghcr.io/ASFHyP3/hyp3-s1-m11m12'
    with pytest.raises(AssertionError, match='all lowercase'):
        check_render_cf_structure(SCENES, job)


def test_the_two_job_types_differ_only_in_their_granules_and_validators(document: dict[str, Any]) -> None:
    scenes, bursts = (yaml.safe_load(yaml.safe_dump(document[name])) for name in (SCENES, BURSTS))
    for job in (scenes, bursts):
        for name in ('reference', 'secondary'):
            del job['parameters'][name]
        del job['validators']
    assert scenes == bursts


def test_validators_are_the_deployments_and_fit_the_names(document: dict[str, Any]) -> None:
    assert document[SCENES]['validators'] == ['check_same_relative_orbits']
    # check_same_relative_orbits reads name.split('_')[7] (the absolute orbit): burst names have no such field
    assert document[BURSTS]['validators'] == []
    assert set(document[SCENES]['validators']) <= DEPLOYMENT_VALIDATORS


def test_uploads_go_to_the_users_bucket_and_prefix(document: dict[str, Any]) -> None:
    for job_type in (SCENES, BURSTS):
        command = document[job_type]['steps'][0]['command']
        assert command[command.index('--bucket') + 1] == 'Ref::bucket'
        assert command[command.index('--bucket-prefix') + 1] == 'Ref::bucket_prefix'
        assert '!Ref Bucket' not in command and 'Ref::job_id' not in command


def test_resources_fit_the_measured_run(document: dict[str, Any]) -> None:
    step = document[SCENES]['steps'][0]
    command = step['command']
    threads = int(command[command.index('++omp-num-threads') + 1])
    assert threads <= step['vcpu'], 'no more threads than the vCPUs reserved'
    assert 1000 < step['memory'] <= 4000, (
        'the workflow peaks at ~1.3 GB (30 secondaries of a full scene): ask for headroom, not 16 GB'
    )


@pytest.mark.parametrize(('job_type', 'good'), [(SCENES, S1D_SCENE), (BURSTS, BURST)])
def test_an_s1d_scene_and_a_burst_pass_and_malformed_names_fail(
    document: dict[str, Any], job_type: str, good: str
) -> None:
    job = document[job_type]
    assert is_valid(job, {'reference': [good], 'secondary': [good]})
    for bad in MALFORMED:
        assert not is_valid(job, {'reference': [bad], 'secondary': [good]}), bad
        assert not is_valid(job, {'reference': [good], 'secondary': [good, bad]}), bad
    other = BURST if job_type == SCENES else S1D_SCENE
    assert not is_valid(job, {'reference': [other], 'secondary': [good]})


@pytest.mark.parametrize(
    'parameters',
    [
        {'reference': ['REF'], 'secondary': ['SEC'], 'dt_seconds': 86400},  # not a parameter of the job
        {'reference': ['REF'], 'secondary': ['SEC'], 'm11m12_dtype': 'float64'},
        {'reference': ['REF'], 'secondary': ['SEC'], 'engine': 'isce3'},
        {'reference': ['REF'], 'secondary': ['SEC'], 'buffer': -1},
        {'reference': ['REF', 'REF'], 'secondary': ['SEC']},  # one reference per job
        {'reference': ['REF'], 'secondary': []},
        {'reference': ['REF'], 'secondary': ['SEC'] * 31},
        {'reference': ['REF']},
    ],
)
def test_parameters_outside_the_schema_are_rejected(document: dict[str, Any], parameters: dict[str, Any]) -> None:
    job = document[SCENES]
    reference = job['parameters']['reference']['api_schema']['example'][0]
    secondary = job['parameters']['secondary']['api_schema']['example'][0]
    concrete = {
        key: [reference if item == 'REF' else secondary for item in value] if isinstance(value, list) else value
        for key, value in parameters.items()
    }
    assert is_valid(job, {'reference': [reference], 'secondary': [secondary]})
    assert not is_valid(job, concrete)


def test_defaults(document: dict[str, Any]) -> None:
    parameters = document[SCENES]['parameters']
    assert parameters['m11m12_dtype']['api_schema']['default'] == 'float32'
    assert parameters['engine']['api_schema']['default'] == 'numpy'
    assert parameters['buffer']['api_schema']['default'] == 0
    geotiffs = parameters['include_geotiffs']['api_schema']
    assert (geotiffs['type'], geotiffs['default']) == ('boolean', True)
    default_file = parameters['parameter_file']['api_schema']['default']
    assert default_file.startswith('/vsicurl/https://')
    assert default_file.rsplit('/', 1)[1] == constants.DEFAULT_PARAMETER_FILE.rsplit('/', 1)[1]


def test_the_image_is_the_one_the_ci_workflow_builds(document: dict[str, Any]) -> None:
    """reusable-docker-ghcr pushes ghcr.io/<lower-cased owner/repository>: the repository of the project's URL."""
    homepage = load_toml(REPO_ROOT / 'pyproject.toml')['project']['urls']['Homepage']
    repository = re.sub(r'^https://github\.com/', '', homepage).lower()
    build = yaml.safe_load((REPO_ROOT / '.github' / 'workflows' / 'build.yml').read_text())
    uses = [job.get('uses', '') for job in build['jobs'].values()]
    assert any(use.startswith('ASFHyP3/actions/.github/workflows/reusable-docker-ghcr.yml@') for use in uses)
    for job_type in (SCENES, BURSTS):
        assert document[job_type]['steps'][0]['image'] == f'ghcr.io/{repository}'


def hyp3_arguments(job: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """The step's command after the ++ options as AWS Batch runs it: each Ref:: replaced by start_execution's
    string (lists joined by spaces, one argument), defaults filled in as the API does."""
    command = list(job['steps'][0]['command'])
    while command and command[0].startswith('++'):
        command = command[2:]
    hyp3 = {'bucket': 'hyp3-content-bucket', 'bucket_prefix': '0b3a1f5e-job-id', 'job_id': '0b3a1f5e-job-id'}
    arguments = []
    for item in command:
        name = item.removeprefix('Ref::')
        if item.startswith('Ref::'):
            value = values.get(
                name, hyp3.get(name, job['parameters'].get(name, {}).get('api_schema', {}).get('default'))
            )
            arguments.append(' '.join(map(str, value)) if isinstance(value, list) else str(value))
        else:
            arguments.append(item)
    return arguments


def flatten(value: Any) -> list[str]:
    """The secondaries the parser produced, whether it splits '--secondary "A B"' or repeats --secondary."""
    if isinstance(value, str):
        return value.split()
    return [name for item in value for name in flatten(item)]


@pytest.mark.parametrize('job_type', [SCENES, BURSTS])
def test_the_command_is_one_the_workflow_parses(document: dict[str, Any], job_type: str) -> None:
    job = document[job_type]
    parser = build_parser()
    known = {option for action in parser._actions for option in action.option_strings}
    options = [item for item in job['steps'][0]['command'] if item.startswith('--')]
    assert options and set(options) <= known

    reference = job['parameters']['reference']['api_schema']['example'][0]
    secondaries = [*job['parameters']['secondary']['api_schema']['example']]
    args = parser.parse_args(hyp3_arguments(job, {'reference': [reference], 'secondary': secondaries}))
    assert args.reference == reference
    assert flatten(args.secondary) == secondaries
    assert (args.buffer, args.m11m12_dtype, args.engine, args.include_geotiffs) == (0, 'float32', 'numpy', True)
    # HyP3 renders a boolean job parameter as Python's str(): 'False' must switch the GeoTIFFs off.
    without = parser.parse_args(
        hyp3_arguments(job, {'reference': [reference], 'secondary': secondaries, 'include_geotiffs': False})
    )
    assert without.include_geotiffs is False
    assert args.parameter_file == job['parameters']['parameter_file']['api_schema']['default']
    assert (args.bucket, args.bucket_prefix) == ('hyp3-content-bucket', '0b3a1f5e-job-id')
