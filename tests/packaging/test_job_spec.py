"""job_spec/S1_CORRECTION_FIXED.yml: HyP3's job-spec layout, and a command the workflow's parser accepts."""

import re
from typing import Any

import pytest
import yaml

from hyp3_s1_m11m12 import constants
from hyp3_s1_m11m12.sentinel1.names import parse_scene_name
from hyp3_s1_m11m12.workflows.s1_correction_fixed import build_parser
from tests.support.shared import REPO_ROOT


JOB_SPEC = REPO_ROOT / 'job_spec' / 'S1_CORRECTION_FIXED.yml'
JOB_TYPE = 'S1_CORRECTION_FIXED'


@pytest.fixture(scope='module')
def job() -> dict[str, Any]:
    document = yaml.safe_load(JOB_SPEC.read_text())
    assert list(document) == [JOB_TYPE]
    return document[JOB_TYPE]


def test_layout(job: dict[str, Any]) -> None:
    assert set(job) == {'required_parameters', 'parameters', 'cost_profiles', 'validators', 'steps'}
    assert job['required_parameters'] == ['reference', 'secondary']
    assert set(job['parameters']) == {'reference', 'secondary', 'buffer', 'parameter_file'}
    assert job['cost_profiles']['DEFAULT']['cost'] > 0
    (step,) = job['steps']
    assert {'name', 'image', 'command', 'timeout', 'compute_environment', 'vcpu', 'memory', 'secrets'} <= set(step)
    assert step['secrets'] == ['EARTHDATA_USERNAME', 'EARTHDATA_PASSWORD']
    assert all(isinstance(item, str) for item in step['command'])
    assert step['command'][:2] == ['++process', 's1_correction_fixed']


@pytest.mark.parametrize('name', ['reference', 'secondary'])
def test_granule_schema_accepts_its_examples(job: dict[str, Any], name: str) -> None:
    schema = job['parameters'][name]['api_schema']
    assert schema['type'] == 'array' and schema['minItems'] == schema['maxItems'] == 1
    items = schema['items']
    for example in [*schema['example'], items['example']]:
        assert re.match(items['pattern'], example)
        assert items['minLength'] <= len(example) <= items['maxLength']
        parse_scene_name(example)


def test_defaults(job: dict[str, Any]) -> None:
    parameters = job['parameters']
    assert parameters['buffer']['api_schema']['default'] == 0
    assert parameters['buffer']['api_schema']['minimum'] == 0
    assert parameters['parameter_file']['api_schema']['default'] == constants.DEFAULT_PARAMETER_FILE


def workflow_arguments(job: dict[str, Any]) -> list[str]:
    """The step's command after the ++ options, with each Ref:: replaced by the parameter's example or default."""
    command = list(job['steps'][0]['command'])
    while command and command[0].startswith('++'):
        command = command[2:]
    substituted = []
    for item in command:
        if item == '!Ref Bucket':
            substituted.append('hyp3-content-bucket')
        elif item.startswith('Ref::'):
            name = item.removeprefix('Ref::')
            if name == 'job_id':  # set by HyP3 for every job
                substituted.append('0b3a1f5e-job-id')
                continue
            parameter = job['parameters'][name]
            schema = parameter.get('api_schema', {})
            value = schema['example'][0] if 'example' in schema else schema.get('default', parameter.get('default'))
            substituted.append(str(value))
        else:
            substituted.append(item)
    return substituted


def test_command_options_exist_in_the_workflow_parser(job: dict[str, Any]) -> None:
    parser = build_parser()
    known = {option for action in parser._actions for option in action.option_strings}
    options = [item for item in job['steps'][0]['command'] if item.startswith('--')]
    assert options and set(options) <= known

    args = parser.parse_args(workflow_arguments(job))
    assert args.reference == job['parameters']['reference']['api_schema']['example'][0]
    assert args.secondary == [job['parameters']['secondary']['api_schema']['example'][0]]  # --secondary repeats
    assert args.buffer == 0
    assert args.parameter_file == constants.DEFAULT_PARAMETER_FILE
    assert args.bucket == 'hyp3-content-bucket'
    assert args.bucket_prefix == '0b3a1f5e-job-id'
